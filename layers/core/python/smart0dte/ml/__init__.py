"""The direction model: training examples, XGBoost training (the only place xgboost is imported),
calibration, walk-forward validation, artifacts and the model registry.

Inference (`model.DirectionModel`) evaluates the trained trees with numpy and needs no xgboost.
"""
