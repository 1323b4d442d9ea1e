"""The whole pipeline over the shared corpus: nothing raises, and mail written by others triggers nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import CORPUS
from sqlalchemy import func, select

from daemon.io import RawItem
from daemon.runtime import make_pipeline, open_runtime
from daemon.settings import Config
from daemon.state.models import ActionRow, Quarantined, ReviewItem, StoredMessage


def files(folder: str) -> list[Path]:
    root = CORPUS / folder
    if not root.is_dir():
        pytest.fail(f"corpus folder {root} is missing (../shared/corpus, or set PARTNERSHIPS_CORPUS)")
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("folder", ["ham", "autoreply", "bounce", "robustness"])
def test_corpus_folder_triggers_no_action(tmp_path: Path, folder: str) -> None:
    # The example leads are loaded too, so a corpus message could only stay quiet on its own merits.
    runtime = open_runtime(Config(state_dir=tmp_path / "state"))
    pipeline = make_pipeline(runtime, dry_run=False)
    paths = files(folder)
    for number, path in enumerate(paths, start=1):
        pipeline.process(RawItem(f"corpus:{folder}", number, path.read_bytes(), str(path)))
    with runtime.sessions() as session:
        actions = [(a.kind, a.key) for a in session.scalars(select(ActionRow))]
        reviews = [(r.message_id, r.reason) for r in session.scalars(select(ReviewItem))]
        recorded = session.scalar(select(func.count()).select_from(StoredMessage))
        quarantined = session.scalar(select(func.count()).select_from(Quarantined))
    assert actions == [] and reviews == []
    # every file is accounted for: recorded, quarantined, or a byte-identical / same-Message-ID duplicate
    assert recorded + quarantined + pipeline.summary.duplicates == len(paths)
    if folder in ("autoreply", "bounce"):
        assert sum(pipeline.summary.skipped.values()) == recorded
