"""The engine's Chunk: the rows it fetched, read as ChunkItems or as ids."""

from bulkops.registry import Chunk, ChunkItem


def test_a_chunk_reads_as_items_and_as_ids():
    chunk = Chunk([(3, "7"), (5, ""), (9, "u2")])
    assert len(chunk) == 3
    assert chunk.target_ids == [3, 5, 9]
    assert list(chunk) == [ChunkItem(3, "7"), ChunkItem(5, ""), ChunkItem(9, "u2")]
    assert chunk[1] == ChunkItem(5, "") and chunk[-1].argument == "u2"
    assert list(chunk[1:]) == [ChunkItem(5, ""), ChunkItem(9, "u2")]
    assert chunk[1:].target_ids == [5, 9]


def test_a_chunk_of_items_is_a_chunk_too():
    items = [ChunkItem(1, ""), ChunkItem(2, "x")]
    assert list(Chunk(items)) == items and Chunk(iter(items)).target_ids == [1, 2]


def test_an_export_chunk_is_large_only_where_copy_writes_it():
    from django.db import connection

    from accounts.actions.export import ExportAccounts
    from bulkops.models import BulkOperation

    action = ExportAccounts()
    csv, xlsx = (BulkOperation(parameters={"format": f}) for f in ("csv", "xlsx"))
    copy = connection.vendor == "postgresql"
    assert action.chunk_size_for(csv) == (250_000 if copy else 50_000)
    assert action.chunk_size_for(xlsx) == 50_000
