"""Pure rules of skills (which version a reference names, artifact keys) and of
environments (sealing, redaction, keeping secrets sent back redacted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai.stigmer.agentic.environment.v1 import spec_pb2 as environment_spec
from ai.stigmer.agentic.skill.v1 import api_pb2 as skill_pb2
from domain.environment_rules import keep_unsent_secrets, open_secrets, redact_secrets, seal_secrets
from domain.errors import InvalidArgument
from domain.secret_box import KEY_FILE, SecretBox, key_from_data_dir, key_from_setting
from domain.skill_rules import VersionChoice, artifact_key, check_artifact_key, choose_version

HASH_A, HASH_B = "a" * 64, "b" * 64


def current_skill(version_hash: str = HASH_A, tag: str = "stable") -> skill_pb2.Skill:
    skill = skill_pb2.Skill()
    skill.status.version_hash = version_hash
    skill.spec.tag = tag
    return skill


@pytest.mark.parametrize(
    ("version", "choice"),
    [
        ("", VersionChoice("current")),
        ("latest", VersionChoice("current")),
        ("  latest ", VersionChoice("current")),
        (HASH_A, VersionChoice("current")),
        ("stable", VersionChoice("current")),
        (HASH_B, VersionChoice("hash", HASH_B)),
        ("beta", VersionChoice("tag", "beta")),
        ("v1.2_rc-3", VersionChoice("tag", "v1.2_rc-3")),
    ],
)
def test_a_reference_version_names_the_current_skill_a_hash_or_a_tag(version: str, choice: VersionChoice) -> None:
    assert choose_version(version, current_skill()) == choice


def test_a_reference_version_that_is_no_tag_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        choose_version("not a tag", current_skill())


def test_only_keys_of_the_issued_form_pass() -> None:
    assert check_artifact_key(artifact_key(HASH_A)) == f"skills/{HASH_A}.zip"
    for key in ("", "skills/../x.zip", f"/skills/{HASH_A}.zip", f"skills/{HASH_A}.zip/..", f"skills/{HASH_A[:-1]}.zip",
                f"skills/{HASH_A.upper()}.zip", f"other/{HASH_A}.zip"):
        with pytest.raises(InvalidArgument):
            check_artifact_key(key)


def data(**values: tuple[str, bool]) -> dict[str, environment_spec.EnvironmentValue]:
    return {k: environment_spec.EnvironmentValue(value=v, is_secret=s) for k, (v, s) in values.items()}


def test_secrets_are_sealed_for_their_owner_and_open_again() -> None:
    box = SecretBox(key_from_setting("k"))
    values = data(TOKEN=("t0ken", True), REGION=("eu", False))
    seal_secrets(values, box, "env_1")
    assert values["TOKEN"].value.startswith("v1:") and "t0ken" not in values["TOKEN"].value
    assert values["REGION"].value == "eu"
    sealed = values["TOKEN"].value
    open_secrets(values, box, "env_1")
    assert values["TOKEN"].value == "t0ken"
    values["TOKEN"].value = sealed
    redact_secrets(values)
    assert values["TOKEN"].value == "" and values["REGION"].value == "eu"


def test_a_secret_sent_back_redacted_keeps_the_stored_one() -> None:
    stored = data(TOKEN=("v1:sealed", True), OLD=("v1:gone", True))
    sent = data(TOKEN=("", True), NEW=("", True))
    keep_unsent_secrets(sent, stored)
    assert sent["TOKEN"].value == "v1:sealed"
    assert sent["NEW"].value == ""  # nothing stored to keep


def test_the_data_dir_key_is_made_once_and_kept(tmp_path: Path) -> None:
    first = key_from_data_dir(tmp_path / "data")
    assert key_from_data_dir(tmp_path / "data") == first
    assert (tmp_path / "data" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert len(first) == 32
