"""What a results page asks of the library: glue that the chapters can format."""


def test_glue_hands_numpy_scalars_to_myst_nb_as_python_numbers(monkeypatch):
    import numpy as np
    import myst_nb

    from ferlib.recipes.pages import glue

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: seen.setdefault(name, value))
    glue("recall", np.float64(0.25))
    glue("count", np.int64(3))
    glue("sentence", "The CNN wins.")
    assert seen == {"recall": 0.25, "count": 3, "sentence": "The CNN wins."}
    assert type(seen["recall"]) is float and type(seen["count"]) is int
