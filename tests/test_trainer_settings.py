"""Every trainer setting is documented: the README's settings tables name each environment
variable, and each frontier technique's row gives its source (a record or a PR)."""
import re

from conftest import REPO
from trainer.config import ENV_NAMES
from trainer.presets import PRESETS


def _training_section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("### Training:")
    return readme[start : readme.index("\n### ", start + 1)]


def _table_rows(section: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| `")]


def test_every_setting_is_in_the_readme_settings_tables():
    section = _training_section()
    documented = {name for row in _table_rows(section) for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0])}
    documented |= set(re.findall(r"`(PRESET)`", section))
    missing = sorted(set(ENV_NAMES.values()) - documented)
    assert not missing, f"settings missing from the README's tables: {missing}"


def test_every_frontier_technique_names_its_source():
    section = _training_section()
    table = section[section.index("The frontier techniques") :]
    rows = _table_rows(table)
    assert len(rows) >= 20
    for row in rows:
        assert len(row) == 5 and re.search(r"PR #\d+|record", row[4]), row
    # and every setting a frontier preset changes from the baseline is documented in some table
    documented = {name for row in _table_rows(section) for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0])}
    changed = {ENV_NAMES[key] for preset in ("frontier", "frontier-smoke") for key in PRESETS[preset]}
    assert changed <= documented, sorted(changed - documented)
