"""Print the image's requirements from pyproject.toml alone (one per line), so the
dependency layer is rebuilt only when the dependencies change, not on every source edit.

Environment (the Dockerfile's build arguments): EXTRAS, comma-separated optional groups to
include; EMBEDDED_ONLY, space-separated packages to leave out (the embedded stand-ins of
`stigmer-service dev`: a container talks to real services).
"""

import os
import re
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
skip = set(os.environ.get("EMBEDDED_ONLY", "").split())
requirements = list(project["dependencies"])
for extra in filter(None, os.environ.get("EXTRAS", "").split(",")):
    requirements += project["optional-dependencies"][extra.strip()]
for requirement in requirements:
    if re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0] not in skip:
        print(requirement)
