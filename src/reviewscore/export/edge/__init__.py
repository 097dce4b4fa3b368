"""The strings-in (edge) variants of `export --edge`: raw texts in, the tokenizer in the graph.

    variants.py     builds the variants into a deploy folder and gathers their parity
    tokenizer.py    reads tokenizer.json's WordPiece settings, refusing what the operator lacks
    normalizer.py   tokenizer.json's normaliser as tables read from the `tokenizers` library
    text_graph.py   the graph part that normalises a batch of texts with those tables
    graph.py        the whole graph: normalise, BertTokenizer, pad, the model, the heads
    names.py        graph building blocks: domains, scoped names, nodes, values, constants
    check.py        the export's checks of an edge file: batch axis and parity

Nothing is imported here: onnx and onnxruntime-extensions load only when a module is used.
"""
