"""Models that learn embeddings from interactions; importing this package registers them for loading."""

from embedrec.models.base import FactorModel, Recommender
from embedrec.models.baselines import BiasBaseline, GlobalMean
from embedrec.models.dotbias import DotBias
from embedrec.models.neural import NeuralCF

__all__ = ["BiasBaseline", "DotBias", "FactorModel", "GlobalMean", "NeuralCF", "Recommender"]
