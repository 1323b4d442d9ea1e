"""Learning from the team: review approve / reject / reclassify store labelled examples, and `partnerships learn`
retrains the model with them, installing it only when no automatic action on eval/test becomes wrong."""

from __future__ import annotations

import json
import stat
from email.message import EmailMessage
from pathlib import Path

import pytest
from factories import run_cli
from sqlalchemy import select

from daemon.core.model import learned_model
from daemon.core.rules import rules_of
from daemon.runtime import open_runtime
from daemon.settings import Config
from daemon.state.models import LabelledExample, ReviewItem, utcnow

EVAL = Path(__file__).resolve().parents[2] / "eval"
NO_HAM = ("--ham", "/nonexistent/ham")  # eval/dev and the team's examples only: quick, and the same everywhere


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("learn") / "state"
    assert run_cli("run", "--once", "--state", str(state))[0] == 0
    return state


def examples(state: Path) -> list[LabelledExample]:
    runtime = open_runtime(Config(state_dir=state))
    with runtime.sessions() as session:
        return list(session.scalars(select(LabelledExample).order_by(LabelledExample.id)))


def open_items(state: Path) -> list[ReviewItem]:
    runtime = open_runtime(Config(state_dir=state))
    with runtime.sessions() as session:
        return list(session.scalars(select(ReviewItem).where(ReviewItem.status == "open").order_by(ReviewItem.id)))


def test_approve_and_reject_store_labelled_examples(demo_state: Path) -> None:
    approvable = next(item for item in open_items(demo_state) if item.proposed)
    assert run_cli("review", "approve", str(approvable.id), "--by", "alice", "--state", str(demo_state))[0] == 0
    rejected = open_items(demo_state)[0]
    assert run_cli("review", "reject", str(rejected.id), "--by", "bob", "--state", str(demo_state))[0] == 0
    stored = {e.review_item_id: e for e in examples(demo_state)}
    yes, no = stored[approvable.id], stored[rejected.id]
    assert (yes.message_id, yes.intent, yes.previous_intent, yes.labelled_by) == (
        approvable.message_id, approvable.intent, approvable.intent, "alice")
    assert (no.message_id, no.intent, no.previous_intent, no.labelled_by) == (
        rejected.message_id, "other", rejected.intent, "bob")
    assert yes.text.strip() and no.text.strip() and yes.labelled_at is not None


def test_reclassify_stores_a_labelled_example(demo_state: Path) -> None:
    item = open_items(demo_state)[0]
    code, out, _ = run_cli("review", "reclassify", str(item.id), "waiting", "--by", "carol", "--state",
                           str(demo_state))
    assert code == 0 and f"review item #{item.id}: its message is waiting, says carol" in out
    newest = examples(demo_state)[-1]
    assert (newest.review_item_id, newest.message_id, newest.intent, newest.labelled_by) == (
        item.id, item.message_id, "waiting", "carol")
    assert open_items(demo_state)[0].id == item.id  # still open: approve or reject is another decision
    code, _, err = run_cli("review", "reclassify", str(item.id), "maybe", "--state", str(demo_state))
    assert code == 2 and "'maybe' is not one of the known intents" in err
    code, _, err = run_cli("review", "reclassify", "99999", "other", "--state", str(demo_state))
    assert code == 2 and "#99999 does not exist" in err


def test_learn_installs_a_model_that_keeps_eval_test_right(demo_state: Path) -> None:
    item = open_items(demo_state)[0]
    assert run_cli("review", "reclassify", str(item.id), "other", "--state", str(demo_state))[0] == 0
    code, out, _ = run_cli("learn", "--eval", str(EVAL), *NO_HAM, "--state", str(demo_state))
    assert code == 0, out
    assert "model in use   new model" in out and "wrong automatic actions" in out and "detected" in out
    path = learned_model(demo_state)
    assert f"installed: {path}" in out and "team" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    installed = json.loads(path.read_text(encoding="utf-8"))
    model = rules_of(Config(state_dir=demo_state)).model  # what the daemon loads at start
    assert model is not None and model.bias == tuple(installed["bias"])
    shipped = rules_of(Config(state_dir=demo_state.parent / "fresh")).model
    assert shipped is not None and shipped.bias != model.bias


def write_mail(path: Path, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = "Ruth Ames <ruth@lakeside.edu>"
    message["To"] = "partnerships@2i2c.org"
    message["Subject"] = subject
    message["Message-ID"] = f"<{path.stem}@lakeside.edu>"
    message["Date"] = "Tue, 03 Nov 2026 10:00:00 +0000"
    message.set_content(body)
    path.write_bytes(message.as_bytes())


def test_learn_refuses_a_model_that_makes_an_automatic_action_wrong(tmp_path: Path) -> None:
    # A labelled set whose test split is one polite "no thanks" that is not a refusal of our offer.
    labelled = tmp_path / "eval"
    (labelled / "test").mkdir(parents=True)
    (labelled / "dev").symlink_to(EVAL / "dev")
    write_mail(labelled / "test" / "thanks.eml", "Re: Hub proposal", "No thanks needed, happy to help!")
    dev_rows = (EVAL / "labels.csv").read_text(encoding="utf-8").splitlines()
    header, rows = dev_rows[0], [r for r in dev_rows[1:] if ",dev," in r]
    (labelled / "labels.csv").write_text("\n".join([header, *rows, "test/thanks.eml,test,other,,,,,,en,,"]) + "\n",
                                         encoding="utf-8")
    state = tmp_path / "state"
    runtime = open_runtime(Config(state_dir=state))
    with runtime.sessions.begin() as session:  # someone labels that very text a refusal, again and again
        for number in range(40):
            session.add(LabelledExample(message_id=f"forged{number}@x", review_item_id=None,
                                        text="Re: Hub proposal\n\nNo thanks needed, happy to help!", intent="decline",
                                        previous_intent="other", labelled_by="mallory", labelled_at=utcnow()))
    code, out, _ = run_cli("learn", "--eval", str(labelled), *NO_HAM, "--state", str(state))
    assert code == 1, out
    assert "WRONG AUTOMATIC with the new model: test/thanks.eml" in out
    assert "not installed: 1 automatic action(s) on eval/test would be wrong" in out
    assert not learned_model(state).exists()
