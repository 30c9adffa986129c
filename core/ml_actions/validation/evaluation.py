"""Score the candidate (and the champion) on the same cached test rows and measure everything.

The flow is fixed so its cost is predictable on large test sets: both models add their score
column to one DataFrame, cached once; one aggregation validates labels and scores and takes a
content digest; one sort per model ranks the rows of every segment
(`ml_actions.validation.exact_metrics.ranked_frame`,
cached); every metric, DeLong variance, flip count and curve point is an aggregation of that.
Only per-segment summaries and a bounded number of curve points reach the driver, never the
test set.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_actions.errors import ConfigurationError, DataError, MlActionsError
from ml_actions.registry import ModelVersionRef
from ml_actions.validation import auc_bootstrap
from ml_actions.validation import exact_metrics as metrics
from ml_actions.validation import paired_statistics as stats
from ml_actions.validation.results import EvaluationResult, ModelScores, SliceResult
from ml_actions.validation.scoring import check_scores, load_scorer, score_checks
from ml_actions.validation.test_data import bad_label_examples, label_problem

SCORE = {"candidate": "__score_candidate", "champion": "__score_champion"}


def evaluate(spark: Any, test_df: DataFrame, candidate: ModelVersionRef,
             champion: ModelVersionRef | None, config: Any,
             feature_columns: list[str] | None = None) -> EvaluationResult:
    """Load and score both models on `test_df`, then measure (see `evaluate_scores`).

    A champion that cannot be loaded or scored raises
    `ml_actions.validation.scoring.ChampionError` (a
    RegistryError): the caller decides, per `validation.champion_load_failure`, to fail or to
    call again with `champion=None`.
    """
    if config.tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
    label = config.evaluation.label_column
    features = feature_columns or [c for c in test_df.columns if c != label]
    scorers = {"candidate": load_scorer(spark, candidate, features, "candidate")}
    if champion is not None:
        scorers["champion"] = load_scorer(spark, champion, features, "champion")
    scored = test_df
    for role, scorer in scorers.items():
        scored = scorer.score(scored, SCORE[role])
    return evaluate_scores(scored, SCORE["candidate"], SCORE["champion"] if champion else None,
                           config, candidate.version, champion.version if champion else None,
                           scorers=scorers, data_columns=test_df.columns)


def evaluate_scores(scored: DataFrame, candidate_col: str, champion_col: str | None,
                    config: Any, candidate_version: str = "candidate",
                    champion_version: str | None = None, scorers: dict[str, Any] | None = None,
                    data_columns: list[str] | None = None) -> EvaluationResult:
    """Measure score columns already present in `scored` (cached here once, released after)."""
    started = time.monotonic()
    label = config.evaluation.label_column
    if champion_col is not None and champion_col == candidate_col:  # e.g. re-validating one model
        scored = scored.withColumn(SCORE["champion"], F.col(champion_col))
        champion_col = SCORE["champion"]
    cols = {"candidate": candidate_col, **({"champion": champion_col} if champion_col else {})}
    data_columns = data_columns or scored.columns
    bootstrap = bool(champion_col) and config.comparison.method == "bootstrap"
    if bootstrap:  # ids fixed by the cache, so every replicate weighs the same rows alike
        scored = scored.withColumn(auc_bootstrap.ROW_ID, F.monotonically_increasing_id())
    scored = scored.cache()
    ranked = None
    try:
        checked = _validate(scored, label, cols, scorers, data_columns)
        amount = config.evaluation.money.amount_column
        if amount and amount not in scored.columns:
            raise ConfigurationError(f"evaluation.money.amount_column: {amount!r} is not in the "
                                     "test data")
        segments = metrics.segments_of(scored, config.slices)
        ranked = metrics.ranked_frame(scored, label, cols, amount, segments).cache()
        ev = config.evaluation
        chosen = {m: metrics.choose_threshold(ranked, m, ev.threshold_strategy,
                                              ev.decision_threshold, ev.target_precision,
                                              ev.target_fpr) for m in cols}
        thresholds = {m: t for m, (t, _) in chosen.items()}
        summary = metrics.summarize(ranked, thresholds, ev.money.review_cost,
                                    ev.money.false_positive_cost)
        models = {m: _model_scores(summary[(m, *metrics.OVERALL)],
                                   candidate_version if m == "candidate" else champion_version,
                                   chosen[m][1], ranked, m, config, amount, scorers)
                  for m in cols}
        comparison: dict[str, Any] = {}
        paired: dict[tuple[str, str], dict[str, Any]] = {}
        if champion_col:
            paired = stats.paired_statistics(ranked, summary, thresholds)
            if bootstrap:
                _bootstrap(paired, scored, label, cols, config.comparison)
            comparison = _comparison(paired[metrics.OVERALL], models, ranked, config)
        slices = _slices(summary, paired, config)
        overall = summary[("candidate", *metrics.OVERALL)]
        return EvaluationResult(
            candidate=models["candidate"], champion=models.get("champion"),
            n_rows=overall["size"], n_positives=overall["positives"],
            test_data_digest=checked, comparison=comparison, slices=slices,
            seconds=time.monotonic() - started)
    finally:
        if ranked is not None:
            ranked.unpersist()
        scored.unpersist()


def _bootstrap(paired: dict[tuple[str, str], dict[str, Any]], scored: DataFrame, label: str,
               cols: dict[str, str], cmp: Any) -> None:
    """Replace DeLong's overall interval in `paired` by the Poisson bootstrap's.

    Slices keep DeLong: the replicates are drawn for the overall difference only, and a
    segment's lower bound at `slices.alpha` needs finer tails than a few hundred replicates
    of a few frauds give.
    """
    sliced = metrics.sliced_frame(scored, label, list(cols.values()),
                                  keep=[auc_bootstrap.ROW_ID])
    found = auc_bootstrap.replicate_aucs(sliced, cols, cmp.bootstrap_replicates,
                                         cmp.bootstrap_seed)
    overall = paired[metrics.OVERALL]
    overall["paired_auc"] = stats.with_replicates(
        overall["paired_auc"], auc_bootstrap.paired_deltas(found[metrics.OVERALL]))


def _validate(scored: DataFrame, label: str, cols: dict[str, str],
              scorers: dict[str, Any] | None, data_columns: list[str]) -> str:
    """One pass: row count, label values, score sanity per model, and a content digest."""
    value = F.col(f"`{label}`").try_cast("double")
    aggs = [F.count(F.lit(1)).alias("n"), F.count(F.when(value == 1, 1)).alias("pos"),
            F.count(F.when(~value.isin(0.0, 1.0) | value.isNull(), 1)).alias("bad_labels"),
            F.sum(F.xxhash64(*[F.col(f"`{c}`") for c in data_columns]).cast("decimal(38,0)"))
            .alias("digest")]
    for col in cols.values():
        width = f"{col}_width"
        if width not in scored.columns:  # pre-computed scores: no output width to check
            scored = scored.withColumn(width, F.lit(1))
        aggs += score_checks(col)
    try:
        row = scored.agg(*aggs).first().asDict()
    except MlActionsError:
        raise
    except Exception as err:  # a model failing inside a Spark task surfaces here
        text = str(err).strip()
        reason = next((ln for ln in text.splitlines() if "Error" in ln or "Exception" in ln),
                      text.splitlines()[0] if text else type(err).__name__)
        raise DataError(f"scoring the test data failed: {reason.strip()[:400]}") from err
    problem = label_problem(label, "the test data", row["n"], row["pos"], row["bad_labels"],
                            lambda: bad_label_examples(scored, label))
    if problem:
        raise DataError(problem)
    for role, col in cols.items():
        scorer = (scorers or {}).get(role)
        if scorer is not None:
            check_scores(row, col, scorer, role)
        else:
            check_scores(row, col, _Named(role), role)
    text = f"{sorted(data_columns)}|{row['n']}|{row['digest']}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Named:
    """Stands in for a Scorer when scores were given as columns (benchmarks, tests)."""

    def __init__(self, role: str):
        from ml_actions.registry import ModelVersionRef

        self.ref = ModelVersionRef(name=role, version="column")
        self.flavor = "column"


def _model_scores(result: dict[str, Any], version: str | None, note: str | None, ranked: DataFrame,
                  model: str, config: Any, amount: str | None,
                  scorers: dict[str, Any] | None) -> ModelScores:
    conf = config.comparison.confidence
    m, c = result["metrics"], result["confusion"]
    intervals: dict[str, tuple[float, float]] = {}
    if not math.isnan(result["auc_variance"]):
        half = stats.z_two_sided(conf) * math.sqrt(result["auc_variance"])
        intervals["auc_roc"] = (max(0.0, m["auc_roc"] - half), min(1.0, m["auc_roc"] + half))
    for name, k, n in (("precision", c["tp"], c["tp"] + c["fp"]),
                       ("recall", c["tp"], c["tp"] + c["fn"])):
        interval = stats.wilson_interval(k, n, conf)
        if interval:
            intervals[name] = interval
    roc, pr = metrics.curve_points(ranked, model, config.evaluation.curve_points)
    scorer = (scorers or {}).get(model)
    return ModelScores(version=str(version), metrics=m, confusion=c,
                       decision_threshold=result["threshold"], roc_curve=roc, pr_curve=pr,
                       money=result["money"] if amount else None, intervals=intervals,
                       threshold_note=note, flavor=scorer.flavor if scorer else None)


def _comparison(overall: dict[str, Any], models: dict[str, ModelScores], ranked: DataFrame,
                config: Any) -> dict[str, Any]:
    cmp = config.comparison
    auc: stats.PairedAuc = overall["paired_auc"]
    champ = models["champion"]
    alerts = champ.confusion["tp"] + champ.confusion["fp"]
    at_rate = stats.at_alert_count(ranked, "candidate", alerts, champ.decision_threshold)
    return {
        "auc": {"delta": auc.delta, "se": auc.se, "interval": auc.interval(cmp.confidence),
                "confidence": cmp.confidence, "positives": auc.positives,
                "negatives": auc.negatives,
                "mde": auc.minimum_detectable_effect(cmp.confidence, cmp.power),
                "p_regression": auc.p_regression(cmp.max_regression), "method": auc.method,
                **({"replicates": len(auc.replicates)} if auc.replicates is not None else {})},
        "flips": overall["flips"],
        "alert_rate": {"champion_alerts": alerts,
                       "champion_alert_rate": champ.metrics["alert_rate"],
                       "candidate_alerts": at_rate["alerts"],
                       "candidate_precision": at_rate["precision"],
                       "candidate_recall": at_rate["recall"],
                       "champion_precision": champ.metrics["precision"],
                       "champion_recall": champ.metrics["recall"],
                       "positives": at_rate["positives"],
                       "only_candidate": at_rate["only_model"],
                       "only_champion": at_rate["only_other"]},
    }


def _slices(summary: dict[tuple, dict], paired: dict[tuple, dict], config: Any
            ) -> list[SliceResult]:
    sc = config.slices
    out = []
    keys = sorted(k[1:] for k in summary if k[0] == "candidate" and k[1] != metrics.OVERALL[0])
    for column in {k[0] for k in keys}:
        count = sum(1 for k in keys if k[0] == column)
        if count > sc.max_segments:
            raise ConfigurationError(
                f"slices: column {column!r} has {count} distinct values (more than "
                f"slices.max_segments={sc.max_segments}); cut it with slices.buckets instead")
    for key in keys:
        res, champ = summary[("candidate", *key)], summary.get(("champion", *key))
        negatives = res["size"] - res["positives"]
        judged = (res["size"] >= sc.min_size and res["positives"] >= sc.min_positives
                  and negatives > 0)
        item = SliceResult(column=key[0], segment=key[1], size=res["size"],
                           positives=res["positives"], metrics=_nan_to_none(res["metrics"]),
                           judged=judged,
                           champion_metrics=_nan_to_none(champ["metrics"]) if champ else None)
        if key in paired and judged:
            auc = paired[key]["paired_auc"]
            item.comparison = {"delta_auc": auc.delta, "se": auc.se,
                               "p_regression": auc.p_regression(sc.max_regression),
                               "flips": paired[key]["flips"]}
        out.append(item)
    return out


def _nan_to_none(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}
