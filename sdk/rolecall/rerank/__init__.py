"""rolecall.rerank: a cross-encoder that re-orders a search's top fused candidates.

```python
from rolecall import Retriever
from rolecall.rerank import Reranker

r = Retriever.open("idx", reranker=Reranker(top_n=20))   # the `rerank` extra
```
"""

from .cross_encoder import DEFAULT_RERANK_MODEL, CrossEncoder
from .stage import RERANK_STAGE, Reranker, RerankStage, reorder

__all__ = ["DEFAULT_RERANK_MODEL", "RERANK_STAGE", "CrossEncoder", "RerankStage", "Reranker",
           "reorder"]
