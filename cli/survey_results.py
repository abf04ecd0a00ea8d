"""Printing survey results on the terminal: funnel, NPS as a stacked bar with its interval, distributions as bars,
weekly trend, breakdowns and the latest text answers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from surveys.results import QuestionResult, SurveyResults
from surveys.stats import Estimate, Nps

BAR = 30
TEXTS_SHOWN = 5


def _bar(share: float, width: int = BAR, colour: str = "blue") -> str:
    filled = round(share * width)
    return f"[{colour}]{'█' * filled}[/][dim]{'·' * (width - filled)}[/]"


def _interval(estimate: Estimate, unit: str = "") -> str:
    return f"{estimate.value:+.1f}{unit} (95 % CI {estimate.low:+.1f} to {estimate.high:+.1f}, n = {estimate.n:,})" \
        if not unit else f"{estimate.value:.1f}{unit} (95 % CI {estimate.low:.1f} to {estimate.high:.1f}, n = " \
                         f"{estimate.n:,})"


def nps_line(score: Nps) -> str:
    """`NPS +12.0 (95 % CI …)` and the detractors / passives / promoters stacked bar."""
    n = score.n
    widths = [round(count / n * 40) for count in (score.detractors, score.passives, score.promoters)]
    bar = f"[red]{'█' * widths[0]}[/][grey62]{'█' * widths[1]}[/][green]{'█' * widths[2]}[/]"
    return (f"[bold]NPS {_interval(score.score)}[/]\n{bar}  [red]{score.detractors:,} detractors[/] · "
            f"[grey62]{score.passives:,} passives[/] · [green]{score.promoters:,} promoters[/]")


def _funnel(console: Console, results: SurveyResults) -> None:
    table = Table("invited", "delivered", "opened", "started", "completed", "response rate", title="Invitations")
    rate = f"{results.response_rate:.1%}" if results.response_rate is not None else "—"
    table.add_row(*(f"{value:,}" for value in (results.invited, results.delivered, results.opened, results.started,
                                               results.completed)), rate)
    console.print(table)


def _question(console: Console, question: QuestionResult) -> None:
    title = f"[bold]{escape(question.text)}[/] [dim]({question.name}, {question.type}, {question.respondents:,} " \
            f"answered{f', mean {question.mean:.2f}' if question.mean is not None else ''})[/]"
    console.print(title)
    if question.rows:
        for row in question.rows:
            mean = f"{row['mean']:.2f}" if row["mean"] is not None else "—"
            console.print(f"  {escape(row['label']):<24} mean {mean}  ({row['respondents']:,} answered)")
        return
    for item in question.distribution:
        console.print(f"  {escape(str(item['label']))[:24]:<24} {_bar(item['share'])} {item['count']:>6,} "
                      f"{item['share']:6.1%}")
    if question.csat is not None:
        console.print(f"  [bold]CSAT {_interval(question.csat, ' %')}[/] — share of 4 and 5")


def _groups(console: Console, title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title.split(" ")[-1], "responses", "completed", "NPS (95 % CI)", "CSAT (95 % CI)", title=title)
    for row in rows:
        score, share = row["nps"], row["csat"]
        table.add_row(escape(str(row["key"])), f"{row['responses']:,}", f"{row['completed']:,}",
                      f"{score['nps']:+.0f} ({score['low']:+.0f}…{score['high']:+.0f})" if score else "—",
                      f"{share['value']:.0f} % ({share['low']:.0f}…{share['high']:.0f})" if share else "—")
    console.print(table)


def _trend(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table("week", "from", "completed", "NPS (95 % CI)", "CSAT", title="Trend by week")
    for row in rows:
        score, share = row["nps"], row["csat"]
        table.add_row(row["week"], f"{row['start']:%d %b}", f"{row['completed']:,}",
                      f"{score['nps']:+.0f} ({score['low']:+.0f}…{score['high']:+.0f})" if score else "—",
                      f"{share['value']:.0f} %" if share else "—")
    console.print(table)


def _texts(console: Console, rows: list[dict[str, Any]]) -> None:
    by_question: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_question[row["question_text"] + (" — other" if row["other"] else "")].append(row)
    for question, answers in by_question.items():
        console.print(f"[bold]{escape(question)}[/] [dim]({len(answers):,} texts; all with --json or --csv)[/]")
        for answer in answers[:TEXTS_SHOWN]:
            console.print(f"  “{escape(answer['text'][:160])}” [dim]{answer['language']}, "
                          f"{answer['answered_at']:%Y-%m-%d}[/]")


def print_results(console: Console, results: SurveyResults) -> None:
    """The whole results report of one survey."""
    scope = [f"segment {results.segment}"] if results.segment else []
    scope += [f"since {results.since:%Y-%m-%d}"] if results.since else []
    console.rule(f"[bold]{escape(results.title)}[/] — {results.survey} v{results.version}"
                 + (" (anonymous)" if results.anonymous else "") + (f" — {', '.join(scope)}" if scope else ""))
    _funnel(console, results)
    if results.nps is not None:
        console.print(nps_line(results.nps))
    if results.csat is not None:
        console.print(f"[bold]CSAT {_interval(results.csat, ' %')}[/] (share of 4–5; Wilson interval)")
    console.print()
    for question in results.questions:
        _question(console, question)
    _trend(console, results.trend)
    _groups(console, "By channel", results.by_channel)
    _groups(console, "By language", results.by_language)
    _groups(console, "By segment", results.by_segment)
    _texts(console, results.texts)
