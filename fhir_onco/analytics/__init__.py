"""Tables and plots back out of FHIR: cohort report, flattened export, patient timeline.

Everything here reads FHIR R4 resources (from a directory of bundles / NDJSON, or from a server)
and never the case files: a registry gets its tables back from whatever is on its FHIR server.
FHIR is read in one way only: each patient's resources become a case through the reverse mapping
(``mappings/<domain>_reverse.py``), and the tables are built from that case.

- :mod:`.reader`    - load resources into a :class:`~.reader.ResourceStore`;
- :mod:`.cases`     - a store's patients -> cases (the reverse mapping), with FHIR ids and dates;
- :mod:`.values`    - written terms -> terminology keys and labels; partial dates for computing;
- :mod:`.flatten`   - one analysis table per clinical domain (``fhir-onco export``);
- :mod:`.km`        - Kaplan-Meier estimator with Greenwood / log-log confidence intervals;
- :mod:`.report`    - cohort tables (``fhir-onco report``);
- :mod:`.timeline`  - patient swimmer plot (``fhir-onco timeline``; needs matplotlib).

matplotlib and pyarrow are imported only by the functions that need them.
"""

__all__: list[str] = []  # a package of modules; import from them (fhir_onco.analytics.report, ...)
