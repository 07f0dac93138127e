"""benchmarks.report: the README's and the docs' tables are what the results files say; report.json lists them."""

import json

import pytest

from benchmarks import report, shakespeare_char

README = """# A project

Some prose that stays as it is, even where it names a marker: `<!-- report:NAME -->`.

<!-- report:speed -->
| stale | table |
<!-- /report:speed -->

More prose.
"""


def speed_table(results: dict) -> str:
    return f"| model | tokens/s |\n| --- | --- |\n| ours | {results['tokens_per_s']:,} |"


def write_results(folder, name, **fields):
    (folder / f"{name}.json").write_text(json.dumps(fields))


def write_generate_results(folder):
    """A results file that benchmarks.shakespeare_char.render_generate renders, from commit abc."""
    write_results(folder, "shakespeare_char_generate", commit="abc", dirty=False, recorded="2026-12-03",
                  machine={"cpu": "a CPU"}, load_before=[0.5, 0.4, 0.3], load_after=[0.6, 0.4, 0.3],
                  generation={"recipe_4x128_1thread": {"params": 800_000, "threads": 1,
                                                       "tokens_per_s_with_cache": 1292.0,
                                                       "tokens_per_s_without_cache": 203.0,
                                                       "speedup": 6.3, "speedup_min": 6.1, "speedup_max": 6.6}})


def test_a_marked_block_is_rendered_from_its_results_file_and_the_rest_is_kept(tmp_path):
    write_results(tmp_path, "speed", commit="0123456789abcdef", dirty=False, recorded="2026-12-03T10:00:00Z",
                  tokens_per_s=18075)
    text, problems = report.render_text(README, tmp_path, "results", find=lambda name: speed_table)
    assert problems == []
    assert "| ours | 18,075 |" in text and "stale" not in text
    assert "commit `0123456789`, recorded 2026-12-03" in text and "(results/speed.json)" in text
    assert text.startswith(README[:README.index("<!-- report:speed")]) and text.endswith("More prose.\n")
    # - rendering is idempotent: a rendered README checks clean
    assert report.render_text(text, tmp_path, "results", find=lambda name: speed_table)[0] == text


def test_check_fails_when_readme_and_results_disagree_and_passes_once_rendered(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(README.replace("speed", "shakespeare_char_generate"))
    write_generate_results(results)
    args = ["--file", str(readme), "--results", str(results)]
    assert report.main(["--check", *args]) == 1
    assert "disagrees" in capsys.readouterr().err
    assert report.main(args) == 0  # render
    assert "1,292 tokens/s" in readme.read_text()
    assert report.main(["--check", *args]) == 0
    # - a changed figure makes the check fail again
    data = json.loads((results / "shakespeare_char_generate.json").read_text())
    data["generation"]["recipe_4x128_1thread"]["tokens_per_s_with_cache"] = 1300.0
    (results / "shakespeare_char_generate.json").write_text(json.dumps(data))
    assert report.main(["--check", *args]) == 1


def test_a_render_of_every_document_from_a_clean_tree_writes_the_inventory(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(README.replace("speed", "shakespeare_char_generate"))
    write_generate_results(results)
    monkeypatch.setattr(report, "documents", lambda: {readme: readme.read_text()})
    clean = {"commit": "def", "dirty": False}
    # - the first render changes the README: nothing is recorded until that is committed
    monkeypatch.setattr(report, "source_state", lambda: {**clean, "dirty": True})
    assert report.main(["--results", str(results)]) == 0
    assert not (results / "report.json").exists() and "not written" in capsys.readouterr().err
    monkeypatch.setattr(report, "source_state", lambda: clean)
    assert report.main(["--results", str(results)]) == 0
    written = json.loads((results / "report.json").read_text())
    assert written["commit"] == "def" and written["tables"] == 1
    assert written["results_files"] == ["shakespeare_char_generate"]
    assert written["documents"][0]["tables"] == [
        {"name": "shakespeare_char_generate", "commit": "abc", "recorded": "2026-12-03"}]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["tables"] == 1
    # - --check and --file never write it
    (results / "report.json").unlink()
    assert report.main(["--check", "--results", str(results)]) == 0
    assert report.main(["--file", str(readme), "--results", str(results)]) == 0
    assert not (results / "report.json").exists()


def test_results_without_a_commit_or_from_dirty_code_fail_the_check(tmp_path):
    write_results(tmp_path, "speed", tokens_per_s=1)
    assert "records no commit" in report.render_text(README, tmp_path, "", find=lambda n: speed_table)[1][0]
    write_results(tmp_path, "speed", commit="abc", dirty=True, tokens_per_s=1)
    text, problems = report.render_text(README, tmp_path, "", find=lambda n: speed_table)
    assert "uncommitted" in problems[0] and "with uncommitted changes" in text


def test_a_marker_without_its_closing_marker_or_results_file_is_an_error(tmp_path):
    with pytest.raises(report.ReportError, match="no closing"):
        report.render_text("<!-- report:speed -->\n| a |\n", tmp_path, "", find=lambda n: speed_table)
    with pytest.raises(report.ReportError, match="does not exist"):
        report.render_text(README, tmp_path, "", find=lambda n: speed_table)


def test_renderers_are_found_by_the_longest_module_name():
    assert report.find_renderer("shakespeare_char") is shakespeare_char.render
    assert report.find_renderer("shakespeare_char_generate") is shakespeare_char.render_generate
    with pytest.raises(report.ReportError, match="no render_nothing"):
        report.find_renderer("shakespeare_char_nothing")
    with pytest.raises(report.ReportError, match="no benchmark module renders"):
        report.find_renderer("no_such_benchmark")


def test_the_repositorys_readme_agrees_with_its_results_files(capsys):
    assert report.main(["--check"]) == 0, capsys.readouterr()


def test_every_doc_with_a_rendered_table_agrees_with_its_results_files(capsys):
    for doc in sorted((report.REPO / "docs").glob("*.md")):
        if report.OPENING.search(doc.read_text(encoding="utf-8")):
            assert report.main(["--check", "--file", str(doc)]) == 0, (doc.name, capsys.readouterr())


def test_a_real_result_from_uncommitted_code_is_refused_and_a_quick_one_is_marked(tmp_path, monkeypatch, capsys):
    from benchmarks import common
    monkeypatch.setattr(common, "source_state", lambda: {"commit": "abc", "dirty": True})
    monkeypatch.delenv(common.ALLOW_DIRTY, raising=False)
    with pytest.raises(SystemExit, match="uncommitted changes"):
        common.report("speed", {"tokens_per_s": 1}, results_dir=tmp_path)
    assert not (tmp_path / "speed.json").exists()
    assert '"tokens_per_s": 1' in capsys.readouterr().out  # printed, so a long run's figures are not lost
    written = common.report("speed", {"tokens_per_s": 1, "quick": True, "rows": [{"a": 1}]}, results_dir=tmp_path)
    assert written["dirty"] is True and written["rows"] == [{"commit": "abc", "dirty": True, "a": 1}]
    assert json.loads((tmp_path / "speed.json").read_text())["commit"] == "abc"
