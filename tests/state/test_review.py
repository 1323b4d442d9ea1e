"""The review queue as the sales team reads it: community, sender, subject, excerpt, reason, proposals in words;
decisions with a person and a comment; closed items listed with --all."""

from __future__ import annotations

import email
import getpass
import json
from email import policy
from pathlib import Path

import pytest
from factories import run_cli


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("review") / "state"
    assert run_cli("run", "--once", "--state", str(state))[0] == 0
    return state


def items(state: Path, *extra: str) -> list[dict]:
    code, out, _ = run_cli("review", "list", "--json", *extra, "--state", str(state))
    assert code == 0
    return json.loads(out)


def test_review_list_is_readable(demo_state: Path) -> None:
    code, out, _ = run_cli("review", "list", "--state", str(demo_state))
    assert code == 0
    harborview = out[out.index("Harborview Institute of Oceanography: service confirmation"):]
    assert "from:     grants@harborview-ocean.org   subject: RE: Harborview hub: Medium tier summary" in harborview
    assert "wrote:    Dear Priya, On behalf of Dr. Osei, I am writing to confirm" in harborview
    assert "why:      sender grants@harborview-ocean.org is not a known contact" in harborview
    assert ("proposes: move Harborview Institute of Oceanography from Active Lead to Needs Admin"
            in harborview)
    assert "proposes: forward it to operations as service confirmation" in harborview
    assert "status:t21m2" not in out  # no internal action keys
    summit = next(item for item in items(demo_state) if item["community"].startswith("Summit State"))
    assert summit["proposals"] == [] and summit["sender"] == "ohaddad@summitstate.edu"
    assert summit["excerpt"].endswith("…") and len(summit["excerpt"]) <= 160


def test_an_item_proposing_nothing_cannot_be_approved(demo_state: Path) -> None:
    summit = next(item for item in items(demo_state) if item["community"].startswith("Summit State"))
    code, _, err = run_cli("review", "approve", str(summit["id"]), "--state", str(demo_state))
    assert code == 2 and "proposes nothing to carry out, so it cannot be approved" in err
    code, out, _ = run_cli("review", "reject", str(summit["id"]), "--comment", "they keep the hub, only no GPUs",
                           "--state", str(demo_state))
    assert code == 0 and f"rejected by {getpass.getuser()}: they keep the hub, only no GPUs" in out
    assert summit["id"] not in [item["id"] for item in items(demo_state)]
    closed = next(item for item in items(demo_state, "--all") if item["id"] == summit["id"])
    assert (closed["status"], closed["decided_by"], closed["comment"]) == (
        "rejected", getpass.getuser(), "they keep the hub, only no GPUs")
    code, out, _ = run_cli("review", "list", "--all", "--state", str(demo_state))
    assert f"[rejected by {getpass.getuser()} " in out and " UTC: they keep the hub, only no GPUs]" in out


def test_an_approved_forward_says_who_approved_it(demo_state: Path) -> None:
    harborview = next(item for item in items(demo_state) if item["community"].startswith("Harborview"))
    outbox = demo_state / "outbox"
    before = set(outbox.iterdir())
    code, out, _ = run_cli("review", "approve", str(harborview["id"]), "--by", "Priya Natarajan",
                           "--state", str(demo_state))
    assert code == 0 and "approved by Priya Natarajan" in out
    [sent] = set(outbox.iterdir()) - before
    note = email.message_from_bytes(sent.read_bytes(), policy=policy.default).get_payload()[0].get_content()
    assert "Forwarded by partnerships-daemon after Priya Natarajan approved it in review" in note
    assert "Forwarded automatically" not in note
