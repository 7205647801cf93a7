"""JRD predictors: give every detected object its Just Recognizable Difference (a QP class 0..63)."""
from vcm.jrd.base import JRDPredictor, create_predictor, register_predictor

__all__ = ["JRDPredictor", "create_predictor", "register_predictor"]
