"""Our FHIR profiles: FSH sources and the compiled StructureDefinitions, ValueSets, CodeSystems."""
