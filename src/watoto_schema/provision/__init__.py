"""Test databases for CI: templates keyed by what builds them, clones handed out in
milliseconds, their owners and leases, clean-up, and a pytest plugin
(``provision.pytest_plugin``).

``template`` builds and seals the templates; ``clones`` hands out, lists and collects the
clones. See docs/testing.md.
"""

from .clones import (
    Clone,
    Dropped,
    Inventory,
    ProvisionResult,
    add_clone,
    drop,
    gc,
    list_all,
    provision,
)
from .template import DataOptions, ProvisionError, Template, ensure_template, template_key

__all__ = ["Clone", "DataOptions", "Dropped", "Inventory", "ProvisionError", "ProvisionResult",
           "Template", "add_clone", "drop", "ensure_template", "gc", "list_all", "provision",
           "template_key"]
