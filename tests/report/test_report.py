"""``write_report`` and ``compare`` on real Optuna studies in run directories."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sparktf.errors import ConfigError
from sparktf.report import compare, write_report
from tests.report.studies import make_study, write_config

FIGURES = (
    "sensitivity",
    "history",
    "importance",
    "parallel_coordinates",
    "learning_curves",
    "timeline",
)


class _Refs(HTMLParser):
    """Collects img sources, link targets and every other URL-valued attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if a.get("href"):
            self.hrefs.append(a["href"] or "")
        if tag in ("script", "link", "iframe"):
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: Path) -> _Refs:
    refs = _Refs()
    refs.feed(html.read_text(encoding="utf-8"))
    return refs


def _check_png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        img.load()
        w, h = img.size
        pixels = np.asarray(img.convert("L"))
    assert 600 <= w <= 2000 and 250 <= h <= 1600, (w, h)
    # a drawn figure, not a blank canvas: dark ink (text, lines) on a white background
    assert (pixels < 100).mean() > 0.002 and (pixels > 240).mean() > 0.3
    return w, h


def test_every_figure_is_a_png_of_sensible_size(study_dir: Path, report_html: Path) -> None:
    assert report_html == study_dir / "report.html"
    for name in FIGURES:
        png = study_dir / f"{name}.png"
        assert png.is_file(), f"{name}.png missing"
        _check_png(png.read_bytes())


def test_html_is_self_contained_and_links_only_existing_files(
    study_dir: Path, report_html: Path
) -> None:
    refs = _parse(report_html)
    assert refs.scripts == 0
    assert len(refs.imgs) == len(FIGURES)
    embedded = set()
    for src in refs.imgs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        _check_png(data)
        embedded.add(data)
    # the embedded images are exactly the PNG files beside the report
    assert embedded == {(study_dir / f"{n}.png").read_bytes() for n in FIGURES}
    for href in refs.hrefs:
        if href.startswith("#"):
            continue
        assert "://" not in href, f"the report must work offline: {href}"
        assert (study_dir / href).is_file(), f"{href} does not exist"


def test_pruned_and_failed_trials_are_shown_as_such(report_html: Path) -> None:
    html = report_html.read_text()
    text = " ".join(_parse(report_html).text)
    assert "Pruned trials (3)" in text and "Failed trials (2)" in text
    assert "17: 12 complete, 3 pruned, 2 failed" in text
    # the failed trials' reason (the traceback's last line) and the full traceback, folded
    assert text.count("ValueError: learning rate 0.09 diverged: loss is nan") >= 2
    assert html.count("<summary>full error and traceback</summary>") == 2
    assert "Traceback (most recent call last):" in html
    assert html.count('class="state-PRUNED"') == 3 and html.count('class="state-FAILED"') == 2


def test_a_trial_continued_from_its_checkpoint_says_from_which_epoch(report_html: Path) -> None:
    import re

    html = report_html.read_text()
    table = html[html.index(">resumed from epoch<") :]
    table = table[: table.index("</table>")]
    headers_before = html[: html.index(">resumed from epoch<")]
    col = len(re.findall(r"<th[ >]", headers_before[headers_before.rindex("<table") :]))
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in table.split("<tr")[1:]]
    resumed = {r[0]: r[col] for r in rows if r and r[col].strip()}
    assert resumed == {"1": "2"}, resumed


def test_sensitivity_plots_test_error_one_line_per_neurons(study_dir: Path) -> None:
    from sparktf.report import plots
    from sparktf.report.data import load

    data = load(study_dir)
    fig = plots.sensitivity(data, "learning_rate", "neurons")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "test error" in ax.get_ylabel() and "learning_rate" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [lab.split(" (")[0] for lab in labels] == [
        "neurons = 64",
        "neurons = 256",
        "neurons = 1024",
    ]
    errors = {
        (t.params["neurons"], t.params["learning_rate"]): t.metrics["test_error"]
        for t in data.completed
    }
    plotted = 0
    for line, neurons in zip(ax.get_lines(), (64, 256, 1024), strict=True):
        xs, ys = line.get_data()
        assert list(xs) == sorted(xs)
        for x, y in zip(xs, ys, strict=True):
            assert errors[(neurons, x)] == pytest.approx(y)
            plotted += 1
    assert plotted == len(data.completed) == 12


def test_learning_curves_mark_each_pruned_trial_where_it_stopped(study_dir: Path) -> None:
    from sparktf.report import plots
    from sparktf.report.data import load

    data = load(study_dir)
    ax = plots.learning_curves(data).axes[0]
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "X"]
    assert len(marks) == 3
    stopped = sorted((float(m.get_xdata()[0]), float(m.get_ydata()[0])) for m in marks)
    expected = sorted(
        (float(t.pruned_at_epoch or 0), t.curve[t.pruned_at_epoch or 0])
        for t in data.with_state("PRUNED")
    )
    assert np.allclose(stopped, expected)


def test_timeline_utilisation_and_workers(study_dir: Path) -> None:
    from sparktf.report import plots
    from sparktf.report.data import load

    data = load(study_dir)
    share, slots, span = plots.utilisation(data)
    busy = sum(t.run_end - t.run_start for t in data.trials)  # type: ignore[operator]
    assert slots == 2 and 0 < share <= 1
    assert share == pytest.approx(busy / (2 * span))
    top = plots.timeline(data).axes[0]
    assert [t.get_text() for t in top.get_yticklabels()] == ["127.0.0.1:4000", "127.0.0.1:4001"]
    assert "slot utilisation" in top.get_title()


def test_not_a_study_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a sparktf run directory: config\.json is missing"):
        write_report(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(tmp_path / "nope")
    write_config(tmp_path / "nodb")
    with pytest.raises(ConfigError, match=r"study\.db is missing"):
        write_report(tmp_path / "nodb")
    assert not (tmp_path / "nodb" / "study.db").exists()  # nothing created by looking
    other = make_study(tmp_path / "other", complete=2, pruned=0, failed=0)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "study_name": "elsewhere"}))
    with pytest.raises(ConfigError, match="no study named 'elsewhere'"):
        write_report(other)


def test_study_without_completed_trials_says_so(tmp_path: Path) -> None:
    run = make_study(tmp_path / "empty", complete=0, pruned=2, failed=2)
    (run / "sensitivity.png").write_bytes(b"stale")  # from an earlier report
    html = write_report(run).read_text()
    assert "No trial completed" in html
    assert "Not drawn: no trial completed" in html
    assert "Not drawn: needs at least 2 completed trials, the study has 0" in html
    assert not (run / "sensitivity.png").exists() and not (run / "history.png").exists()
    # what did happen is still shown
    assert (run / "timeline.png").is_file() and (run / "learning_curves.png").is_file()
    assert "Failed trials (2)" in html and "Pruned trials (2)" in html


def test_custom_objective_without_learning_rate_skips_sensitivity(tmp_path: Path) -> None:
    run = make_study(tmp_path / "custom", with_lr=False, complete=6, pruned=1, failed=1)
    html = write_report(run).read_text()
    assert (
        "Not drawn: no completed trial has a numeric hyperparameter &#x27;learning_rate&#x27;"
        in html
    )
    assert "choose one with --x" in html
    for name in FIGURES[1:]:
        assert (run / f"{name}.png").is_file(), name
    # with --x the figure is drawn: the optimised metric on y, said so on the axis
    from sparktf.report import plots
    from sparktf.report.data import load

    ax = plots.sensitivity(load(run), "x").axes[0]
    assert ax.get_ylabel().startswith("loss (the optimised metric; trials report no test_error)")


def test_by_and_x_must_name_hyperparameters(study_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"--by 'batch' is not a hyperparameter.*neurons"):
        write_report(study_dir, by="batch")
    with pytest.raises(ConfigError, match="--x 'lr'"):
        write_report(study_dir, x="lr")
    with pytest.raises(ConfigError, match="different hyperparameters"):
        write_report(study_dir, by="learning_rate")


def test_compare_overlays_studies_against_compute(study_dir: Path, tmp_path: Path) -> None:
    rand = make_study(tmp_path / "random", sampler="random", pruner="none", seed=3, pruned=0)
    out = compare([study_dir, rand], tmp_path / "cmp")
    assert out == tmp_path / "cmp" / "compare.html"
    _check_png((tmp_path / "cmp" / "compare.png").read_bytes())
    refs = _parse(out)
    assert len(refs.imgs) == 1 and refs.imgs[0].startswith("data:image/png;base64,")
    text = " ".join(refs.text)
    assert "tpe-asha" in text and "random" in text

    from sparktf.report import plots
    from sparktf.report.data import load

    studies = [load(study_dir, importance=False), load(rand, importance=False)]
    left = plots.compare(studies).axes[0]
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels[0].startswith("tpe-asha (tpe/asha)") and labels[1].startswith(
        "random (random/none)"
    )
    for line, data in zip(left.get_lines()[::2], studies, strict=True):
        xs, ys = line.get_data()
        assert list(xs) == sorted(xs)  # compute spent only grows
        assert xs[-1] == pytest.approx(sum(t.compute_s or 0 for t in data.trials))
        assert list(ys) == sorted(ys)  # best so far of a maximised metric never drops
        assert ys[-1] == pytest.approx(data.best().value)  # type: ignore[union-attr]


def test_compare_refuses_different_goals_and_single_study(study_dir: Path, tmp_path: Path) -> None:
    other = make_study(tmp_path / "loss", with_lr=False, complete=3, pruned=0, failed=0)
    with pytest.raises(ConfigError, match="optimise different things"):
        compare([study_dir, other], tmp_path / "cmp")
    with pytest.raises(ConfigError, match="at least two"):
        compare([study_dir], tmp_path / "cmp")


def test_a_resumed_study_names_its_interrupted_trials_and_shows_fixed_settings_once(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from sparktf.cli import main

    run = make_study(tmp_path / "run", complete=4, pruned=0, failed=0, interrupted=3)
    assert main(["report", str(run)]) == 0
    html = run / "report.html"
    assert capsys.readouterr().out.strip() == str(html)
    text = " ".join(_parse(html).text)
    assert "7: 4 complete, 0 pruned, 0 failed, 3 interrupted" in text
    assert "running/waiting" not in text
    assert "same in every trial epochs=4" in text
    headers = [h for h in html.read_text().split("<th>")[1:] if h.startswith("epochs")]
    assert [h.split("</th>")[0] for h in headers] == ["epochs run"] * 2  # top and all trials
