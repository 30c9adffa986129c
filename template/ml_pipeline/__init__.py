"""Reference fraud-detection project on Spark ML + MLflow that a team copies and adapts.

simulate -> features (event-time windows, label delay) -> pipeline (preprocessing + model)
-> train (time split, MLflow logging and registration).
"""

__all__ = ["features", "pipeline", "simulate", "train", "transformations"]
