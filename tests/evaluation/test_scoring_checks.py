"""Score sanity rules of ml_actions.validation.scoring, and a Spark model without probabilities."""

from __future__ import annotations

import pytest

from ml_actions.errors import DataError
from ml_actions.registry import ModelVersionRef
from ml_actions.validation.scoring import ChampionError, Scorer, check_scores

REF = ModelVersionRef("fraud", "3")


def stats(**changes):
    return {"s_bad": 0, "s_range": 0, "s_soft": 10, "s_wmin": 2, "s_wmax": 2, **changes}


def test_good_scores_pass():
    check_scores(stats(), "s", Scorer(REF, "pyfunc", None), "candidate")
    check_scores(stats(s_wmin=1, s_wmax=1), "s", Scorer(REF, "pyfunc", None), "candidate")


@pytest.mark.parametrize("changes,match", [
    ({"s_wmax": 3}, "3 output columns"),
    ({"s_wmin": 0}, "output columns"),
    ({"s_bad": 4}, "4 NaN or missing"),
    ({"s_range": 2}, "outside \\[0, 1\\]"),
    ({"s_soft": 0}, "hard 0/1 labels"),
])
def test_bad_scores_name_the_model(changes, match):
    with pytest.raises(DataError, match=match) as err:
        check_scores(stats(**changes), "s", Scorer(REF, "pyfunc", None), "candidate")
    assert "fraud v3" in str(err.value)


def test_spark_scores_need_two_class_probabilities():
    with pytest.raises(DataError, match="output columns"):
        check_scores(stats(s_wmin=1, s_wmax=1), "s", Scorer(REF, "spark", None), "candidate")


def test_champion_problems_are_champion_errors():
    with pytest.raises(ChampionError, match="champion model fraud v3"):
        check_scores(stats(s_bad=1), "s", Scorer(REF, "pyfunc", None), "champion")


@pytest.mark.integration
def test_spark_model_without_probability_is_refused(make_df):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LinearSVC
    from pyspark.ml.feature import VectorAssembler

    df = make_df(f1=[0.1, 0.9, 0.2, 0.8, 0.3, 0.7], fraud_label=[0, 1, 0, 1, 0, 1])
    svc = Pipeline(stages=[VectorAssembler(inputCols=["f1"], outputCol="features"),
                           LinearSVC(labelCol="fraud_label", maxIter=5)]).fit(df)
    with pytest.raises(DataError, match="without a `probability` output"):
        Scorer(REF, "spark", svc).score(df, "s")
