"""Reading and validating review files: shared by train, export and score."""

from reviewscore.data.columns import Columns
from reviewscore.data.reader import BadLine, LabelMode, ReviewRows, iter_review_chunks, read_reviews
from reviewscore.data.split import Split, split_train_valid
from reviewscore.data.writer import write_reviews_csv

__all__ = [
    "BadLine",
    "Columns",
    "LabelMode",
    "ReviewRows",
    "Split",
    "iter_review_chunks",
    "read_reviews",
    "split_train_valid",
    "write_reviews_csv",
]
