"""``tether eval init|run`` and ``tether runs replay``.

``eval run`` prints a Rich progress bar and table (or ``--json``), writes an HTML report with
``--html``, and with ``--gate`` exits 1 when the pass rate misses the dataset's threshold or
drops below its saved baseline. The eval's runs go to the project's database, so every
example run in the report can be opened with ``tether runs show RUN``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from tether.errors import UsageError

if TYPE_CHECKING:
    from tether.evals.dataset import Dataset
    from tether.evals.runner import EvalResult
    from tether.runtime import Runtime

eval_app = typer.Typer(help="Evaluate agents on datasets of cases.", no_args_is_help=True)

SCAFFOLD = """\
# An eval dataset: `tether eval run {path}` (see README, "Evaluate agents").
name: {name}
agent: {agent}             # agent name or YAML file (relative to this file)
gate:
  min_pass_rate: 0.9       # `--gate` fails below this
cases:
  - id: compute
    input: Compute 17 * 23.
    tags: [calc]
    # scripted model turns make the case deterministic; drop them to use the agent's model
    script:
      - call: {{tool: calculator, args: {{expression: 17 * 23}}}}
      - answer: The result is 391.
    expect:
      contains: ["391"]
      trajectory:
        order: exact
        calls: [{{tool: calculator, args: {{expression: {{$regex: "17 ?\\\\* ?23"}}}}}}]
    budget: {{max_steps: 3}}
  - id: chat
    input: Say hello.
    script: [{{answer: Hello!}}]
    expect: {{regex: "(?i)hello", trajectory: {{order: exact, calls: []}}}}
"""


@eval_app.command("init")
def eval_init(
    path: Annotated[Path, typer.Argument(help="dataset file to create")] = Path(
        "evals/dataset.yaml"
    ),
    agent: Annotated[str, typer.Option(help="agent the cases run")] = "assistant",
) -> None:
    """Scaffold a dataset with two example cases (refuses to overwrite a file)."""
    from tether.cli.main import _errors
    from tether.evals.dataset import load_dataset

    with _errors():
        if path.exists():
            raise UsageError(f"{str(path)!r} exists; choose another path or remove it first")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SCAFFOLD.format(path=path, name=path.stem, agent=agent), encoding="utf-8")
        cases = len(load_dataset(path).cases)
    typer.echo(f"wrote {path} ({cases} cases); run it with: tether eval run {path}")


@eval_app.command("run")
def eval_run(
    dataset: Annotated[Path, typer.Argument(help="dataset file (.yaml or .jsonl)")],
    agent: Annotated[str | None, typer.Option(help="agent name or YAML file")] = None,
    model: Annotated[str | None, typer.Option(help="model for unscripted cases")] = None,
    repeat: Annotated[int, typer.Option(min=1, max=100, help="attempts per case (pass^k)")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="attempts at once")] = 4,
    seed: Annotated[int, typer.Option(help="seed of the attempts' model seeds")] = 0,
    tag: Annotated[list[str] | None, typer.Option(help="only cases with this tag")] = None,
    no_scripts: Annotated[
        bool, typer.Option("--no-scripts", help="ignore scripted turns: the model plays")
    ] = False,
    gate: Annotated[bool, typer.Option("--gate", help="exit 1 when a threshold is missed")] = False,
    min_pass_rate: Annotated[
        float | None, typer.Option(min=0, max=1, help="gate threshold (overrides the dataset's)")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="baseline JSON to gate against (default: the dataset's)")
    ] = None,
    max_drop: Annotated[
        float | None, typer.Option(min=0, max=1, help="tolerated drop below the baseline")
    ] = None,
    save_baseline: Annotated[
        Path | None, typer.Option(help="write this run's pass rate as a baseline")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="write the HTML report here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:
    """Run DATASET's cases, report, and (with --gate) fail below its thresholds."""
    from tether.cli.main import _errors
    from tether.evals import gate as gates
    from tether.evals.dataset import load_dataset
    from tether.evals.html import write_html
    from tether.evals.report import print_report, report_json

    with _errors():
        data = load_dataset(dataset)
        if tag:
            data = data.select(tags=tag)
        if not data.cases:
            raise UsageError(f"{dataset}: no cases to run (check --tag)")
        result = _run(data, agent, model, repeat, concurrency, seed, not no_scripts, as_json)
        spec = data.gate
        if min_pass_rate is not None:
            spec = spec.model_copy(update={"min_pass_rate": min_pass_rate})
        if max_drop is not None:
            spec = spec.model_copy(update={"max_drop": max_drop})
        base = baseline or (data.relative(spec.baseline) if spec.baseline else None)
        if base is not None and not base.exists() and save_baseline == base:
            base = None  # the first run saves the baseline it will be gated against
        outcome = gates.check_gate(result, spec, base) if gate else None
        if save_baseline is not None:
            gates.save_baseline(result, save_baseline)
        if html is not None:
            write_html(html, result, outcome)
    if as_json:
        typer.echo(json.dumps(report_json(result, outcome), ensure_ascii=False))
    else:
        print_report(Console(soft_wrap=True), result, outcome)
        if html is not None:
            typer.echo(f"HTML report: {html}")
    raise typer.Exit(1 if outcome is not None and not outcome.passed else 0)


def _run(
    data: Dataset,
    agent: str | None,
    model: str | None,
    repeat: int,
    concurrency: int,
    seed: int,
    scripted: bool,
    quiet: bool,
) -> EvalResult:
    from tether.evals.components import run_dataset
    from tether.evals.harness import Harness
    from tether.settings import load_settings

    settings = load_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    harness = Harness.open(settings.home / "evals" / f"{data.name}-{stamp}", settings)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )
    try:
        with progress:
            task = progress.add_task(f"eval {data.name}", total=len(data.cases) * repeat)
            return asyncio.run(
                run_dataset(
                    data,
                    harness,
                    agent=agent,
                    model=model,
                    repeat=repeat,
                    concurrency=concurrency,
                    seed=seed,
                    scripted=scripted,
                    on_done=lambda _: progress.advance(task),
                )
            )
    finally:
        harness.close()


@eval_app.command("online")
def eval_online(
    agent: Annotated[str | None, typer.Option(help="only runs of this agent (its name)")] = None,
    sample: Annotated[int, typer.Option(min=1, max=10_000, help="runs to score")] = 20,
    seed: Annotated[int, typer.Option(help="seed of the sample")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Score a seeded sample of stored runs after the fact: succeeded, grounded answer, no
    automatic-check violations; failures by component."""
    from tether.cli.main import _errors, _runtime
    from tether.evals.online import sample_runs, score_runs, summary

    with _errors():
        rt = _runtime()
        try:
            ids = sample_runs(rt.store, size=sample, seed=seed, agent=agent)
            scores = asyncio.run(score_runs(rt.store, ids))
        finally:
            rt.close()
    rate, groups = summary(scores)
    if as_json:
        body = {
            "runs": len(scores),
            "pass_rate": round(rate, 4),
            "failures": [g.to_json() for g in groups],
            "scores": [s.to_json() for s in scores],
        }
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    out = Console(soft_wrap=True)
    out.print(f"{len(scores)} runs scored, {rate:.0%} passed", highlight=False)
    for g in groups:
        runs = ", ".join(x["run_id"] for x in g.examples)
        out.print(f"  {g.component:<16} {g.count:>4}  {runs}", highlight=False)


@eval_app.command("add")
def eval_add(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    dataset: Annotated[Path, typer.Argument(help="YAML dataset to add the case to")],
    case_id: Annotated[
        str | None, typer.Option("--id", help="case id (default: the run id)")
    ] = None,
    correction: Annotated[
        str | None, typer.Option(help="the answer the run should have given")
    ] = None,
) -> None:
    """Turn stored run RUN into a case of DATASET: its goal, its model turns as the script,
    its tool calls and answer (or --correction) as what is expected."""
    from tether.cli.main import _errors, _with_store
    from tether.evals.capture import append_case, case_from_run

    def capture(rt: Runtime) -> tuple[str, int]:
        record = rt.store.runs.find(run_id)
        events = rt.store.journal.read(record.id)
        case = case_from_run(events, case_id=case_id or record.id, correction=correction)
        return case["id"], append_case(dataset, case)

    with _errors():
        added, total = _with_store(capture)
    typer.echo(f"added case {added!r} to {dataset} ({total} cases)")


def replay_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    agent: Annotated[
        str | None, typer.Option(help="agent version to replay (default: the run's own spec)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Re-run RUN's agent (or --agent) against RUN's recorded model and tool results; exit 1
    if its behaviour drifted (other calls, arguments, answer or status)."""
    from tether.cli.main import _errors, _runtime, find_agent
    from tether.evals.replay import replay_run

    with _errors():
        rt = _runtime()
        try:
            chosen = find_agent(agent) if agent else None
            report = asyncio.run(replay_run(rt, run_id, agent=chosen))
        finally:
            rt.close()
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        out = Console(soft_wrap=True)
        mark = "[green]no drift[/]" if not report.drift else "[red]drift[/]"
        out.print(f"{mark}: {report.run_id} replayed as {report.replay_id}", highlight=False)
        for d in report.drift:
            out.print(f"  - {d}", highlight=False)
    raise typer.Exit(1 if report.drift else 0)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    """Add ``tether eval`` and ``tether runs replay`` to the command line."""
    app.add_typer(eval_app, name="eval")
    runs_app.command("replay")(replay_command)
