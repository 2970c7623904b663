"""Progress as text: what a saved notebook and a log file keep of a loop."""


def test_progress_is_one_plain_line_per_finished_item(capsys):
    from rastlib.progress import progress
    assert list(progress("abc", "letters", label=str.upper)) == ["a", "b", "c"]
    assert capsys.readouterr().out == "letters: 1/3 A\nletters: 2/3 B\nletters: 3/3 C\n"
    assert list(progress(range(2), "quiet", enabled=False)) == [0, 1] and capsys.readouterr().out == ""
