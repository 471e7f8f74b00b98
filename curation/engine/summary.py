"""One-line descriptions of the engine's status, shared by `gristmill engine status` and the review app."""


def model_summary(model: dict) -> str:
    """The model line of `Engine.status()["model"]`: version, training decisions and held-out quality."""
    q = model["quality"]
    return (f"model {model['version']}: trained on {model['n_decisions']:,} human decisions "
            f"({model['decisions_since']:,} since); held-out AUC {q['auc']:.3f}, Brier {q['brier']:.3f}, "
            f"accuracy {q['accuracy']:.1%}")
