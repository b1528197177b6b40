"""Profile conformance validation over the committed StructureDefinition snapshots.

>>> v = ConformanceValidator.load_default()
>>> issues = v.validate_resource({"resourceType": "Patient", "gender": "male"})
"""

from .validator import ConformanceValidator, profiles_dir

__all__ = ["ConformanceValidator", "profiles_dir"]
