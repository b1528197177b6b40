Alias: $SCT = http://snomed.info/sct
Alias: $LNC = http://loinc.org
