"""The engine's Chunk: the rows it fetched, read as ChunkItems or as ids."""

from bulkops.registry import Chunk, ChunkItem


def test_a_chunk_reads_as_items_and_as_ids():
    chunk = Chunk([(3, "7"), (5, ""), (9, "u2")])
    assert len(chunk) == 3
    assert chunk.account_ids == [3, 5, 9]
    assert list(chunk) == [ChunkItem(3, "7"), ChunkItem(5, ""), ChunkItem(9, "u2")]
    assert chunk[1] == ChunkItem(5, "") and chunk[-1].argument == "u2"
    assert list(chunk[1:]) == [ChunkItem(5, ""), ChunkItem(9, "u2")]
    assert chunk[1:].account_ids == [5, 9]


def test_a_chunk_of_items_is_a_chunk_too():
    items = [ChunkItem(1, ""), ChunkItem(2, "x")]
    assert list(Chunk(items)) == items and Chunk(iter(items)).account_ids == [1, 2]
