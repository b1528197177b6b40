from fhir_onco.cli.app import main

main()
