"""Answer scorers: metrics that compare a model answer with reference answers."""
