"""`TttEngine` (`--engine ttt`) and `TttSearchEngine` (`--engine ttt+search`): transduction by a
test-time-trained language model, with augmentation voting.

Per task: reset the adapter; fine-tune it on the task's leave-one-out examples in the 8 dihedral views
with random colour permutations and pair orders; for each test input decode greedily and with the DFS
sampler under several views, map every answer back through its view's inverse and keep the valid grids;
score each distinct answer under every view and keep the best (see `score`). `ttt+search` also runs the
DSL search in a CPU worker process meanwhile; a program that reproduces every train pair adds its
prediction, merged by the `merge` setting:

- `search-first` (default): the search's best answer, then the model's best, alternating; so with two
  attempts, one is the search's and one the model's whenever they differ (either attempt may be right);
- `score`: the search's answers join the pool and the product of experts picks, as for the model's own;
- `ttt-first`: the model's two best; the search's answers only fill what the model leaves empty.

The search's answers are those of its best `SEARCH_KEPT` train-exact programs, in its own order (a small
task can have a dozen train-exact programs that disagree on the test input).

Each phase stops at its share of the task's seconds, so the engine returns on time with what it has. A
model or CUDA failure ends this engine's part of the task only: what was decoded so far, the search's
candidates and the runtime's fallback still count. The engine measures its pace on the first tasks,
logs a forecast, and shrinks steps and views to fit each task's seconds (see `budget`).

Both engines are `parallel = False` and `holds_model = True`: the runtime runs one process per GPU lane,
each holding one model, and `replica_bytes` tells it what a lane needs (weights, KV cache and one training
example's activations). Settings come from the engine's keyword options or `ARCFORGE_TTT_*` environment variables (README).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from arcforge_solver.engines.protocol import (
    Candidate,
    Deadline,
    EngineContext,
    EngineResult,
    EngineStartError,
)
from arcforge_solver.engines.ttt.augment import Augmentation, sample_augmentations
from arcforge_solver.engines.ttt.budget import (
    LANE_TRAIN_TOKENS,
    TttPace,
    TttPlan,
    batch_for_memory,
    fit_plan,
    forecast_lines,
    pace_line,
    training_bytes,
)
from arcforge_solver.engines.ttt.data import leave_one_out
from arcforge_solver.engines.ttt.decode import CachedStepper, dfs_sample, greedy
from arcforge_solver.engines.ttt.format import FormatError, answer_budget, encode, fit_context
from arcforge_solver.engines.ttt.model import AdapterSettings, TttModel, open_ttt_model
from arcforge_solver.engines.ttt.score import CandidatePool, Scored, grid_key, product_of_experts, rank
from arcforge_solver.engines.ttt.train import TrainReport, TrainSettings, train
from arcforge_solver.runtime.timing import format_duration
from arcforge_solver.tasks.model import Task

log = logging.getLogger(__name__)

DEFAULT_PLAN = TttPlan(steps=48, batch_size=4, views=8, dfs=True, min_prob=0.1)
TRAIN_VIEWS = 8
"""Views the leave-one-out examples are built in (all 8 dihedral transforms, recoloured)."""
TRAIN_SHARE = 0.5
"""Share of a task's seconds training may use."""
DECODE_SHARE = 0.6
"""Share of what is left after training that decoding may use; scoring gets the rest."""
MERGE_POLICIES = ("search-first", "score", "ttt-first")
SEARCH_KEPT = 2
"""ttt+search: the search's best train-exact programs that add their answers (in the search's order)."""
SEARCH_SHARE = 0.8
"""ttt+search: the share of a task's seconds the CPU search gets (it runs beside the model)."""
RANKS_KEPT = 3
TTT_SOURCE = ""
"""A transduction candidate has no program: an empty source, so the journal records none and
`arcforge-solve show` does not try to run one."""


def _setup_error(message: str) -> Exception:
    return EngineStartError(message)


def _setting(value: Any, name: str, default: Any, kind: Callable[[Any], Any]) -> Any:
    """The option when given, else `ARCFORGE_TTT_<NAME>`, else the default; a value that does not
    parse stops the engine at start with one message naming it."""
    variable = f"ARCFORGE_TTT_{name}"
    raw = value if value is not None else os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except (TypeError, ValueError):
        where = f"the ttt option {name.lower()}" if value is not None else variable
        raise _setup_error(f"{where}={raw!r} is not a valid {getattr(kind, '__name__', 'value')}") from None


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


class TttEngine:
    """Test-time training + DFS sampling + product-of-experts scoring."""

    name = "ttt"
    parallel = False
    holds_model = True

    @staticmethod
    def replica_bytes(options: dict[str, Any]) -> int | None:
        """GPU memory one lane needs: the LLM engine's replica estimate (weights, KV cache, overhead) plus
        the activations of one training example (`LANE_TRAIN_TOKENS`); None when the folder is unreadable."""
        from arcforge_solver.engines.llm.loading import (  # noqa: PLC0415
            ModelFolderError,
            read_config,
            replica_bytes,
            resolve_model_paths,
        )

        model_dir = options.get("model_dir")
        base = replica_bytes(str(model_dir)) if model_dir else None
        if base is None:
            return None
        try:
            config = read_config(resolve_model_paths(str(model_dir)).model)
        except ModelFolderError:
            return base
        return base + training_bytes(config, LANE_TRAIN_TOKENS)

    def __init__(
        self,
        model_dir: str | None = None,
        *,
        ttt_model: TttModel | None = None,
        steps: int | None = None,
        batch_size: int | None = None,
        views: int | None = None,
        min_prob: float | None = None,
        dfs: bool | None = None,
        learning_rate: float | None = None,
        mode: str | None = None,
        lora_rank: int | None = None,
        dtype: str | None = None,
        quantize: str | None = None,
        max_tokens: int | None = None,
        merge: str | None = None,
        **_ignored: Any,
    ) -> None:
        self.ceiling = TttPlan(
            steps=_setting(steps, "STEPS", DEFAULT_PLAN.steps, int),
            batch_size=_setting(batch_size, "BATCH", DEFAULT_PLAN.batch_size, int),
            views=max(1, _setting(views, "VIEWS", DEFAULT_PLAN.views, int)),
            dfs=_setting(dfs, "DFS", DEFAULT_PLAN.dfs, _flag),
            min_prob=_setting(min_prob, "MIN_PROB", DEFAULT_PLAN.min_prob, float),
        )
        self.learning_rate = _setting(learning_rate, "LR", 1e-4, float)
        self.merge = _setting(merge, "MERGE", "search-first", str)
        if self.merge not in MERGE_POLICIES:
            raise _setup_error(
                f"ttt merge policy must be one of {', '.join(MERGE_POLICIES)}, not {self.merge!r}"
            )
        if ttt_model is None:
            ttt_model = self._open(
                model_dir, mode=mode, rank=lora_rank, dtype=dtype, quantize=quantize, max_tokens=max_tokens
            )
        self.ttt = ttt_model
        self.pace = TttPace()
        self._tasks_seen = 0
        self._forecast_logged = False
        self._last_plan: TttPlan | None = None

    @staticmethod
    def _open(
        model_dir: str | None,
        *,
        mode: str | None,
        rank: int | None,
        dtype: str | None,
        quantize: str | None,
        max_tokens: int | None,
    ) -> TttModel:
        if not model_dir:
            raise _setup_error("the ttt engines need a model: pass --model-dir DIR (model/ + tokenizer/)")
        from arcforge_solver.engines.llm.loading import ModelFolderError  # noqa: PLC0415

        settings = AdapterSettings(
            mode=_setting(mode, "MODE", "lora", str), rank=_setting(rank, "LORA_RANK", 32, int)
        )
        settings = replace(settings, alpha=settings.rank)
        try:
            return open_ttt_model(
                model_dir,
                settings=settings,
                dtype=_setting(dtype, "DTYPE", "auto", str),
                quantize=_setting(quantize, "QUANTIZE", "none", str),
                max_tokens=_setting(max_tokens, "MAX_TOKENS", 8192, int),
                gradient_checkpointing=_setting(None, "CHECKPOINTING", False, _flag),
            )
        except (ModelFolderError, ValueError) as exc:
            raise _setup_error(str(exc)) from exc
        except ImportError as exc:
            raise _setup_error(
                f"the ttt engines need torch, transformers and peft: pip install 'arcforge-solver[ttt]' ({exc})"
            ) from exc

    def close(self) -> None:
        return None

    # -- the runtime's entry point ---------------------------------------------------------------
    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        started = time.monotonic()
        run = TaskRun(task, deadline, self.plan(task, deadline, context), context.seed)
        self.run_model(run, context)
        return self.finish(run, context, started, {})

    def run_model(
        self, run: TaskRun, context: EngineContext, *, before_scoring: Callable[[], None] | None = None
    ) -> None:
        """Train, decode and score, each phase within its share of the deadline. A failure of the
        model (CUDA included) is logged and ends only this; `before_scoring` still runs."""
        try:
            self.ttt.reset()
            self._train(run, context)
            self._decode(run)
        except Exception as exc:
            self._failed(run, context, "training or decoding", exc)
        if before_scoring is not None:
            before_scoring()
        if run.error is None:
            try:
                self._score(run)
            except Exception as exc:
                self._failed(run, context, "scoring", exc)
        if run.error is not None:
            for index, pool in enumerate(run.pools):
                run.ranked[index] = rank(pool.entries())

    def _failed(self, run: TaskRun, context: EngineContext, phase: str, exc: Exception) -> None:
        run.error = f"{type(exc).__name__}: {exc}"
        _log(context, f"TTT {phase} failed on {run.task.task_id}: {run.error}", "warning")
        _release_cuda()

    # -- budget ------------------------------------------------------------------------------------
    def plan(self, task: Task, deadline: Deadline, context: EngineContext) -> TttPlan:
        """The ceiling, shrunk to the task's seconds once the pace is known, at the batch the lane's
        memory holds for this task's longest example."""
        plan = fit_plan(self.ceiling, self.pace, deadline.seconds, max(1, len(task.test)))
        longest = max((self.ttt.vocab.pair_token_count(p) for p in task.train), default=0) * max(
            1, len(task.train)
        )
        batch = batch_for_memory(
            _free_gpu_bytes(self.ttt.device),
            longest,
            getattr(self.ttt.model, "config", None),
            plan.batch_size,
        )
        plan = replace(plan, batch_size=batch)
        if self.pace.measured and plan != self._last_plan:
            shrinks = (plan.steps, plan.views) < (self.ceiling.steps, self.ceiling.views)
            _log(
                context,
                f"TTT {'shrinks' if shrinks else 'uses'} to {plan.describe()} (a task gets {format_duration(deadline.seconds)})",
                "warning" if shrinks else "info",
            )
        self._last_plan = plan
        return plan

    # -- phases ------------------------------------------------------------------------------------
    def _train(self, run: TaskRun, context: EngineContext) -> None:
        views = sample_augmentations(TRAIN_VIEWS, len(run.task.train), seed=run.seed)
        examples = leave_one_out(run.task, views, self.ttt.vocab, max_tokens=self.ttt.max_tokens)
        settings = TrainSettings(
            steps=run.plan.steps,
            batch_size=run.plan.batch_size,
            learning_rate=self.learning_rate,
            max_seconds=run.deadline.remaining() * TRAIN_SHARE,
            seed=run.seed,
        )

        def on_step(step: int, loss: float) -> None:
            if context.emit is not None and (step + 1) % 8 == 0:
                context.emit(
                    "item",
                    state="running",
                    ttt={"step": step + 1, "steps": settings.steps, "loss": round(loss, 4)},
                )

        run.report = train(self.ttt, examples, settings, on_step=on_step)
        self.pace.record_train(run.report.steps, run.report.seconds, run.report.tokens)
        log.info(
            "TTT %s: %d steps on %d examples, loss %.4f -> %.4f",
            run.task.task_id,
            run.report.steps,
            len(examples),
            run.report.loss_start,
            run.report.loss_end,
        )

    def _views(self, run: TaskRun) -> list[Augmentation]:
        return sample_augmentations(run.plan.views, len(run.task.train), seed=run.seed + 1)

    def _decode(self, run: TaskRun) -> None:
        vocab = self.ttt.vocab
        stepper = CachedStepper(self.ttt.model, self.ttt.device, vocab.answer_tokens)
        views = self._views(run)
        phase_end = time.monotonic() + run.deadline.remaining() * DECODE_SHARE
        jobs = [(index, view) for view in views for index in range(len(run.task.test))]
        for number, (index, view) in enumerate(jobs):
            now = time.monotonic()
            if now >= phase_end:
                break
            # Each decode gets an even share of the phase, so every view gets its turn.
            until = now + (phase_end - now) / (len(jobs) - number)
            pairs = view.pairs(run.task.train)
            query = view.grid(run.task.test[index].input)
            room = answer_budget(vocab, pairs, query)
            try:
                context_pairs = fit_context(
                    vocab, pairs, query, max_tokens=self.ttt.max_tokens, answer_tokens=room
                )
            except FormatError:
                continue
            prompt = encode(vocab, context_pairs, query).ids
            started, tokens = time.monotonic(), stepper.forward_tokens
            best, _ = greedy(stepper, prompt, vocab, max_new_tokens=room, deadline=until)
            found = [("greedy", best)] if best is not None else []
            if run.plan.dfs and time.monotonic() < until:
                completions, stats = dfs_sample(
                    stepper, prompt, vocab, min_prob=run.plan.min_prob, max_new_tokens=room, deadline=until
                )
                run.truncated_dfs += int(stats.truncated)
                found += [("dfs", c) for c in completions]
            self.pace.record_decode(stepper.forward_tokens - tokens, time.monotonic() - started)
            for origin, completion in found:
                grid = vocab.decode_grid(completion.tokens)
                if grid is None:
                    continue
                run.pools[index].add(view.invert_grid(grid), origin, completion.logprob)
        run.decode_tokens = stepper.forward_tokens

    def _score(self, run: TaskRun) -> None:
        views = self._views(run)
        for index, pool in enumerate(run.pools):
            candidates = pool.entries()
            remaining = run.deadline.remaining()
            if not candidates:
                continue
            until = time.monotonic() + remaining / (len(run.pools) - index)
            started = time.monotonic()
            run.ranked[index] = product_of_experts(
                self.ttt, run.task.train, run.task.test[index].input, candidates, views, deadline=until
            )
            scored_views = len(candidates[0].view_scores) if candidates else 0
            self.pace.record_score(
                len(candidates) * scored_views, time.monotonic() - started, len(candidates)
            )

    # -- the result ------------------------------------------------------------------------------
    def finish(
        self, run: TaskRun, context: EngineContext, started: float, extra: dict[str, Any]
    ) -> EngineResult:
        seconds = time.monotonic() - started
        self.pace.record_task(seconds)
        self._tasks_seen += 1
        if self.pace.measured and not self._forecast_logged:
            self._forecast_logged = True
            _log(context, pace_line(self.pace))
            tasks_left = context.options.get("tasks_remaining")
            budget = context.options.get("budget_remaining_s")
            lanes = context.options.get("lanes")
            if isinstance(tasks_left, int) and tasks_left > 0:
                for line in forecast_lines(
                    self.ceiling,
                    self.pace,
                    tasks_left=tasks_left,
                    budget_s=float(budget) if budget is not None else None,
                    lanes=lanes if isinstance(lanes, int) and lanes > 0 else 1,
                ):
                    _log(context, line)
        report = run.report or TrainReport()
        stats: dict[str, Any] = {
            "ttt_loss_start": _rounded(report.loss_start),
            "ttt_loss_end": _rounded(report.loss_end),
            "ttt_steps": report.steps,
            "ttt_stopped": report.stopped,
            "ttt_examples": report.examples,
            "ttt_batch": report.batch_size,
            "ttt_train_seconds": round(report.seconds, 3),
            "ttt_steps_per_s": round(report.steps / report.seconds, 3) if report.seconds > 0 else 0.0,
            "ttt_decode_tokens": run.decode_tokens,
            "ttt_candidates": [len(pool) for pool in run.pools],
            "ttt_dfs_truncated": run.truncated_dfs,
            "ttt_top_scores": [[round(s.score, 3) for s in ranked[:2]] for ranked in run.ranked],
            "ttt_plan": {
                "steps": run.plan.steps,
                "batch": run.plan.batch_size,
                "views": run.plan.views,
                "dfs": run.plan.dfs,
            },
            "ttt_resets": self.ttt.resets,
            **extra,
        }
        if run.error:
            stats["ttt_error"] = run.error
        return EngineResult(task_id=run.task.task_id, candidates=self.candidates(run), stats=stats)

    def candidates(self, run: TaskRun) -> list[Candidate]:
        """Rank k's answers for every test input, as one candidate per rank, best first."""
        ranked = self.merged(run)
        result: list[Candidate] = []
        depth = max((len(r) for r in ranked), default=0)
        for position in range(min(depth, RANKS_KEPT + len(run.search))):
            entries = [r[position] if position < len(r) else None for r in ranked]
            predictions = tuple(e.grid if e is not None else None for e in entries)
            program = _matching_program(run, predictions, entries)
            if program is not None:
                result.append(program)
                continue
            origins = sorted({o for e in entries if e is not None for o in e.origins})
            result.append(
                Candidate(
                    source=TTT_SOURCE,
                    trusted=False,
                    train_fitness=0.0,
                    train_exact=0,
                    predictions=predictions,
                    origin="ttt-" + "+".join(origins) if origins else "ttt",
                )
            )
        return result

    def merged(self, run: TaskRun) -> list[list[Scored]]:
        """Per test input, the answers in the order the merge policy gives (see the module's doc)."""
        if not run.search or self.merge == "score":
            return run.ranked
        merged: list[list[Scored]] = []
        for index, ranked in enumerate(run.ranked):
            by_key = {entry.key(): entry for entry in ranked}
            searched: list[Scored] = []
            for program in run.search:  # the search's own order: its best program first
                prediction = program.predictions[index]
                entry = by_key.get(grid_key(prediction)) if prediction is not None else None
                if entry is not None and entry not in searched:
                    searched.append(entry)
            model = [entry for entry in ranked if entry.origins - {"search"}]
            if self.merge == "search-first":
                order = [e for pair in itertools.zip_longest(searched, model) for e in pair if e is not None]
            else:
                order = model[:2] + searched + model[2:]
            distinct: dict[tuple[tuple[int, ...], bytes], Scored] = {}
            for entry in order:
                distinct.setdefault(entry.key(), entry)
            merged.append(list(distinct.values()))
        return merged


class TaskRun:
    """One task's state across the phases."""

    def __init__(self, task: Task, deadline: Deadline, plan: TttPlan, seed: int = 0) -> None:
        self.task = task
        self.deadline = deadline
        self.plan = plan
        self.seed = seed + sum(ord(c) for c in task.task_id)
        self.pools = [CandidatePool() for _ in task.test]
        self.ranked: list[list[Scored]] = [[] for _ in task.test]
        self.report: TrainReport | None = None
        self.search: list[Candidate] = []
        self.decode_tokens = 0
        self.truncated_dfs = 0
        self.error: str | None = None


def _matching_program(
    run: TaskRun, predictions: tuple[Any, ...], entries: list[Scored | None]
) -> Candidate | None:
    """The search program whose predictions are exactly this rank's answers, when there is one."""
    if not run.search or any(e is None or "search" not in e.origins for e in entries):
        return None
    wanted = [grid_key(p) for p in predictions]
    for program in run.search:
        if [grid_key(p) if p is not None else None for p in program.predictions] == wanted:
            return program
    return None


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)  # NaN (nothing trained) becomes null


def _free_gpu_bytes(device: Any) -> int | None:
    if getattr(device, "type", str(device)) != "cuda":
        return None
    import torch  # noqa: PLC0415

    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def _release_cuda() -> None:
    try:
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # the device itself may be what failed
        log.debug("could not empty the CUDA cache", exc_info=True)


def _log(context: EngineContext, message: str, level: str = "info") -> None:
    log.info(message)
    if context.emit is not None:
        context.emit("log", level=level, message=message)


class TttSearchEngine(TttEngine):
    """The TTT model on the GPU and the DSL search on a CPU worker; train-exact programs add their
    predictions to the model's answers (merged by the `merge` setting)."""

    name = "ttt+search"
    parallel = False

    def __init__(self, *args: Any, search_share: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from arcforge_solver.engines.llm.search_worker import SearchWorker  # noqa: PLC0415

        self.search_share = _setting(search_share, "SEARCH_SHARE", SEARCH_SHARE, float)
        self.search = SearchWorker()

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        started = time.monotonic()
        run = TaskRun(task, deadline, self.plan(task, deadline, context), context.seed)
        job = self.search.submit(task, max(0.5, deadline.remaining() * self.search_share), context.seed)

        def add_search() -> None:
            current = self.search.wait(job.started + job.seconds)
            result = current.result if current is not None else None
            if result is None:
                return
            for candidate in result.candidates:
                if candidate.train_exact != len(task.train) or len(candidate.predictions) != len(task.test):
                    continue
                if any(p is None for p in candidate.predictions):
                    continue
                if len(run.search) == SEARCH_KEPT:
                    break
                run.search.append(candidate)
                for index, prediction in enumerate(candidate.predictions):
                    assert prediction is not None
                    run.pools[index].add(prediction, "search")

        self.run_model(run, context, before_scoring=add_search)
        extra: dict[str, Any] = {"search_seconds": round(job.seconds, 2), "search_exact": len(run.search)}
        if job.error:
            extra["search_error"] = job.error
        if job.result is not None:
            extra["search"] = dict(job.result.stats)
        return self.finish(run, context, started, extra)

    def close(self) -> None:
        self.search.close()
