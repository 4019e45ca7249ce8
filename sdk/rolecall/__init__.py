"""rolecall: retrieval that knows the difference between *related* and *relevant*.

The public API is flat: import everything from `rolecall`.  Modules are private in spirit;
their names are not part of the API except `rolecall.testing` and `rolecall.eval`.
"""

from __future__ import annotations

from .agent.budget import Budget
from .agent.judge import LLMJudge
from .agent.loop import Agent
from .backends.embedded.index import Index
from .backends.interface import Backend, BackendReader, BackendWriter
from .documents import Document, read_corpus
from .embedding.bge import BgeSmallEmbedder
from .embedding.sentence import Embedder, SentenceTransformerEmbedder
from .errors import (
    BackendError,
    ConfigurationError,
    CorpusError,
    DuplicateDocumentError,
    EmbedderMismatchError,
    EmbeddingError,
    IndexCorruptError,
    IndexError_,
    IndexLocationError,
    IndexNotFoundError,
    IndexReadOnlyError,
    IndexVersionError,
    IndexWriteError,
    InvalidQueryError,
    InvalidSettingError,
    KnowledgeGraphError,
    LLMCallError,
    LLMError,
    MissingDependencyError,
    RewriteError,
    RolecallError,
    StorageError,
    UsageError,
)
from .explain import (
    AgentStep,
    Clarification,
    ConstraintCheck,
    Degradation,
    Explanation,
    GroundedValue,
    Hit,
    LegScore,
    Plan,
    SearchResult,
    Spend,
    StageRecord,
)
from .graph import Entity, FileReport, KnowledgeGraph, LoadReport, Relation, RelationType
from .llm.client import LLMClient
from .pipeline.evidence import EvidenceWeights
from .pipeline.state import Outcome, SearchState, Stage, stage
from .query import (
    SCHEMA_VERSION,
    AttributeFilter,
    Direction,
    Exclusion,
    Operator,
    Polarity,
    Provenance,
    RelationConstraint,
    RoleQuery,
)
from .rerank import CrossEncoder, Reranker
from .retriever import Retriever
from .rewrite.auto import rewriter_from_env
from .rewrite.base import Catalog, Message, Rewriter
from .rewrite.cache import RewriteCache
from .rewrite.llm import LLMRewriter
from .rewrite.rules import RuleRewriter
from .settings import SearchSettings

__version__ = "0.1.0"

__all__ = [
    "Stage",
    "BgeSmallEmbedder",
    "CrossEncoder",
    "EmbedderMismatchError",
    "Reranker",
    "SearchState",
    "Outcome",
    "StageRecord",
    "BackendWriter",
    "BackendReader",
    "UsageError",
    "StorageError",
    "EmbeddingError",
    "DuplicateDocumentError",
    "ConfigurationError",
    "Backend",
    "BackendError",
    "SCHEMA_VERSION",
    "Agent",
    "AgentStep",
    "AttributeFilter",
    "Budget",
    "Catalog",
    "Clarification",
    "ConstraintCheck",
    "CorpusError",
    "Degradation",
    "Direction",
    "Document",
    "Embedder",
    "Entity",
    "EvidenceWeights",
    "Exclusion",
    "Explanation",
    "GroundedValue",
    "Hit",
    "Index",
    "IndexCorruptError",
    "IndexError_",
    "IndexLocationError",
    "IndexNotFoundError",
    "IndexReadOnlyError",
    "IndexVersionError",
    "IndexWriteError",
    "InvalidQueryError",
    "InvalidSettingError",
    "KnowledgeGraph",
    "KnowledgeGraphError",
    "LLMCallError",
    "LLMClient",
    "LLMError",
    "LLMJudge",
    "LLMRewriter",
    "LegScore",
    "Message",
    "MissingDependencyError",
    "Operator",
    "Plan",
    "Polarity",
    "Provenance",
    "Relation",
    "LoadReport",
    "FileReport",
    "RelationType",
    "RelationConstraint",
    "Retriever",
    "RewriteCache",
    "Rewriter",
    "RewriteError",
    "RoleQuery",
    "RolecallError",
    "RuleRewriter",
    "SearchResult",
    "SearchSettings",
    "SentenceTransformerEmbedder",
    "Spend",
    "read_corpus",
    "rewriter_from_env",
    "stage",
]
