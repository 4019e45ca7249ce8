"""Fine-tune the dense model on mined triples: `tune(index, out)`.

The loss is sentence-transformers' `MultipleNegativesRankingLoss` over (query, positive,
hard negative): each query must score its positive above every other passage in the batch,
its own hard negative included.  The hard negatives are what makes it about role and
aboutness rather than topic (`tune.mining`): the associated-but-wrong document of the same
object, the page that only mentions the entity.

A run is deterministic for its seed (the data order, the held-back split and torch's
initial state come from it), checkpoints every `checkpoint_every` steps into
`out/checkpoint/`, and resumes from there when asked: the same settings and triples
continue at the step they stopped, with the optimiser's state.  A time budget ends the run
early with the model as trained so far, saved and said so.  The output folder is a
sentence-transformers model (`SentenceTransformerEmbedder(out)`, `--embedder out`) with
`rolecall-tune.json` beside it: how it was trained and what the held-back triples showed
before and after.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._checks import check_integer, check_real
from .._progress import progress_bar
from ..errors import NothingToTuneError, TuneOutputError
from .mining import MinedTriples, Triple

__all__ = ["TUNE_MANIFEST", "HeldBack", "TuneReport", "TuneSettings", "train_on"]

#: the manifest a tuned model folder carries
TUNE_MANIFEST = "rolecall-tune.json"
_CHECKPOINT = "checkpoint"
_STATE = "state.pt"


@dataclass(frozen=True)
class TuneSettings:
    """How to train.  `steps` sets the optimiser steps (as many epochs as they take; None:
    `epochs` over the triples);
    `time_budget_s` stops early with the model so far; `held_back` is the share of
    triples (by query) kept out of training to measure the change on."""

    epochs: int = 1
    steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup: float = 0.1
    max_length: int = 128
    seed: int = 0
    held_back: float = 0.1
    #: "query": held-back triples share no query with training (new intents); "pair":
    #: whole triples are held back (the same intents, unseen document pairs)
    held_back_by: Literal["query", "pair"] = "query"
    checkpoint_every: int = 50
    time_budget_s: float | None = None

    def check(self) -> None:
        check_integer("epochs", self.epochs, 1, 1_000)
        check_integer("batch_size", self.batch_size, 2, 4_096)
        check_integer("max_length", self.max_length, 8, 512)
        check_integer("checkpoint_every", self.checkpoint_every, 1, 10**9)
        if self.steps is not None:
            check_integer("steps", self.steps, 1, 10**9)
        check_real("learning_rate", self.learning_rate, 1e-9, 1.0)
        check_real("warmup", self.warmup, 0.0, 1.0)
        check_real("held_back", self.held_back, 0.0, 0.9)
        if self.time_budget_s is not None:
            check_real("time_budget_s", self.time_budget_s, 0.0, 1e9)


@dataclass(frozen=True)
class HeldBack:
    """The held-back triples as the model scores them: the mean of cos(query, positive) −
    cos(query, negative), and the share of triples whose positive scores higher; overall
    and per kind (`by_kind`: kind -> [triples, margin, ordered])."""

    triples: int
    margin: float
    ordered: float
    by_kind: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class TuneReport:
    """What a run did; also written to `out/rolecall-tune.json`."""

    out: str
    base_model: str
    settings: dict[str, Any]
    counts: dict[str, int]
    train_triples: int
    steps: int
    planned_steps: int
    seconds: float
    stopped: str
    resumed_from: int = 0
    losses: list[float] = field(default_factory=list)
    before: HeldBack | None = None
    after: HeldBack | None = None
    mined_from: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def train_on(
    triples: MinedTriples,
    texts: Callable[[str], str],
    out: str | Path,
    *,
    base: str,
    settings: TuneSettings = TuneSettings(),
    resume: bool = False,
    progress: bool = True,
    mined_from: str = "",
) -> TuneReport:
    """Train `base` (a sentence-transformers folder) on `triples`, whose document ids
    `texts` turns into passages, and save the tuned model to `out`."""
    settings.check()
    out = Path(out)
    _check_out(out, resume)
    train, held = triples.split(settings.held_back, seed=settings.seed, by=settings.held_back_by)
    if not train.triples:
        raise NothingToTuneError(triples.counts(), fix="mine more (a graph with links, a "
                                 "larger corpus) or pass qrels of a training split")
    model, torch = _load(base, settings)
    loss = _loss(model)
    rows = [_row(t, texts) for t in train.triples]
    held_rows = [_row(t, texts) for t in held.triples]
    batches = _batches(rows, settings)
    planned = len(batches)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    schedule = _schedule(torch, optimiser, planned, settings.warmup)
    report = TuneReport(out=str(out), base_model=base, settings=asdict(settings),
                        counts=triples.counts(), train_triples=len(rows), steps=0,
                        planned_steps=planned, seconds=0.0, stopped="done",
                        mined_from=mined_from)
    held_kinds = [t.kind for t in held.triples]
    report.before = _held_back(model, held_rows, held_kinds, settings)
    start = _restore(out, model, optimiser, schedule, torch, report) if resume else 0
    report.resumed_from = start
    t0 = time.perf_counter()
    with progress_bar("tuning", total=planned, enabled=progress, unit="steps") as advance:
        advance(start)
        for step in range(start, planned):
            value = _step(model, loss, optimiser, schedule, [rows[i] for i in batches[step]],
                          settings)
            report.losses.append(round(value, 4))
            report.steps = step + 1
            advance(1, f"loss {value:.3f}")
            if report.steps % settings.checkpoint_every == 0 and report.steps < planned:
                _checkpoint(out, model, optimiser, schedule, torch, report)
            if _over_budget(settings, t0):
                report.stopped = f"time budget ({settings.time_budget_s:g} s)"
                break
    report.seconds = round(time.perf_counter() - t0, 1)
    report.after = _held_back(model, held_rows, held_kinds, settings)
    _save(out, model, report)
    return report


def _check_out(out: Path, resume: bool) -> None:
    """Nothing in `out` is overwritten unless resuming its own checkpoint: a tuned model
    can take an hour to train again."""
    if not out.exists() or not any(out.iterdir()):
        if resume:
            raise TuneOutputError("has no checkpoint to resume from; drop --resume",
                                  path=out)
        return
    if resume and (out / _CHECKPOINT / _STATE).exists():
        return
    if (out / _CHECKPOINT / _STATE).exists():
        raise TuneOutputError("holds an interrupted run: pass resume=True (--resume) to go "
                              "on, or choose another folder", path=out)
    if (out / TUNE_MANIFEST).exists():
        raise TuneOutputError("holds a tuned model already (and resume has nothing to go on "
                              "from); choose another folder or delete this one", path=out)
    raise TuneOutputError("exists and is not a rolecall tuning output; choose a new or "
                          "empty folder", path=out)


def _load(base: str, settings: TuneSettings) -> tuple[Any, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    model = SentenceTransformer(base, device="cpu")
    model.max_seq_length = settings.max_length
    return model, torch


def _loss(model: Any) -> Any:
    import importlib

    try:
        losses = importlib.import_module("sentence_transformers.sentence_transformer.losses")
    except ImportError:  # sentence-transformers before the module move
        losses = importlib.import_module("sentence_transformers.losses")
    return losses.MultipleNegativesRankingLoss(model)


def _row(t: Triple, texts: Callable[[str], str]) -> tuple[str, str, str]:
    return t.query, texts(t.positive), texts(t.negative)


def _batches(rows: Sequence[tuple[str, str, str]], settings: TuneSettings) -> list[list[int]]:
    """The batches of every epoch, each epoch in its own seeded order: `epochs` of them, or
    as many as `steps` needs (then cut to it)."""
    per_epoch = max(1, len(rows) // settings.batch_size)
    epochs = settings.epochs if settings.steps is None else -(-settings.steps // per_epoch)
    out: list[list[int]] = []
    for epoch in range(epochs):
        order = list(range(len(rows)))
        random.Random(settings.seed * 1_000 + epoch).shuffle(order)
        out += _distinct_batches(rows, order, settings.batch_size)
    return out[: settings.steps] if settings.steps is not None else out


def _distinct_batches(rows: Sequence[tuple[str, str, str]], order: list[int],
                      size: int) -> list[list[int]]:
    """Batches in which no passage appears twice: the loss takes every other row's passages
    as negatives, and a document that is one query's positive and another's in-batch
    negative would be pushed away from a query it answers.  A row that fits no open batch
    waits for the next one."""
    batches: list[list[int]] = []
    waiting = list(order)
    while waiting:
        batch: list[int] = []
        seen: set[str] = set()
        rest: list[int] = []
        for i in waiting:
            texts = {rows[i][1], rows[i][2]}
            if len(batch) < size and not texts & seen and rows[i][0] not in seen:
                batch.append(i)
                seen |= texts | {rows[i][0]}
            else:
                rest.append(i)
        if len(batch) > 1:  # one row alone has no in-batch negatives to learn from
            batches.append(batch)
        elif len(batch) == 1 and not rest:
            break
        waiting = rest if len(batch) > 0 else []
    return batches


def _schedule(torch: Any, optimiser: Any, planned: int, warmup: float) -> Any:
    """Linear warm-up over the first `warmup` share of steps, then linear decay to 0."""
    warm = max(1, int(planned * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (planned - step) / max(1, planned - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def _step(model: Any, loss: Any, optimiser: Any, schedule: Any,
          batch: Sequence[tuple[str, str, str]], settings: TuneSettings) -> float:
    model.train()
    columns = [[r[c] for r in batch] for c in range(3)]
    encode = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 6
    features = [encode(col) for col in columns]
    value = loss(features, None)
    optimiser.zero_grad()
    value.backward()
    optimiser.step()
    schedule.step()
    return float(value.detach())


def _held_back(model: Any, rows: Sequence[tuple[str, str, str]], kinds: Sequence[str],
               settings: TuneSettings) -> HeldBack | None:
    if not rows:
        return None
    model.eval()
    enc = [model.encode([r[c] for r in rows], batch_size=settings.batch_size,
                        normalize_embeddings=True, show_progress_bar=False) for c in range(3)]
    gaps = (enc[0] * enc[1]).sum(axis=1) - (enc[0] * enc[2]).sum(axis=1)
    by_kind = {}
    for kind in sorted(set(kinds)):
        g = gaps[[i for i, k in enumerate(kinds) if k == kind]]
        by_kind[kind] = [len(g), round(float(g.mean()), 4), round(float((g > 0).mean()), 4)]
    return HeldBack(len(rows), round(float(gaps.mean()), 4), round(float((gaps > 0).mean()), 4),
                    by_kind)


def _over_budget(settings: TuneSettings, t0: float) -> bool:
    return (settings.time_budget_s is not None
            and time.perf_counter() - t0 >= settings.time_budget_s)


def _checkpoint(out: Path, model: Any, optimiser: Any, schedule: Any, torch: Any,
                report: TuneReport) -> None:
    """The model and everything needed to go on from `report.steps`, written to a fresh
    folder and swapped in, so a kill mid-write leaves the previous checkpoint."""
    ckpt, tmp = out / _CHECKPOINT, out / (_CHECKPOINT + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    torch.save({"step": report.steps, "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(), "losses": report.losses,
                "settings": report.settings, "train_triples": report.train_triples,
                "torch_rng": torch.get_rng_state()}, tmp / _STATE)
    shutil.rmtree(ckpt, ignore_errors=True)
    tmp.rename(ckpt)


def _restore(out: Path, model: Any, optimiser: Any, schedule: Any, torch: Any,
             report: TuneReport) -> int:
    ckpt = out / _CHECKPOINT
    state = torch.load(ckpt / _STATE, weights_only=False)
    if state["settings"] != report.settings or state["train_triples"] != report.train_triples:
        raise TuneOutputError("its checkpoint was made with other settings or triples; "
                              "resume with the same ones, or train into a new folder",
                              path=out)
    from sentence_transformers import SentenceTransformer

    saved = SentenceTransformer(str(ckpt), device="cpu")
    model.load_state_dict(saved.state_dict())
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["torch_rng"])
    report.losses = list(state["losses"])
    return int(state["step"])


def _save(out: Path, model: Any, report: TuneReport) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    (out / TUNE_MANIFEST).write_text(json.dumps(report.to_json(), indent=2) + "\n",
                                     encoding="utf-8")
    shutil.rmtree(out / _CHECKPOINT, ignore_errors=True)
