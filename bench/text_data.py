"""A synthetic text-classification corpus, hashed by scikit-learn's own vectorizer.

Documents are drawn word by word: most words from a Zipf-distributed background
vocabulary shared by every class, the rest from a small set of topic words of the
document's class (topics overlap, and topic words are themselves common or rare
by a Zipf law), so that, as in real text, a few frequent words carry little and
many rare ones a little each. The words are strings (``"w123"``), turned into a
CSR matrix by scikit-learn's ``HashingVectorizer(n_features=2**18)`` and weighted
by its ``TfidfTransformer(sublinear_tf=True)``, the recipe of scikit-learn's
out-of-core text example. Deterministic for a seed; no download.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TextCorpus:
    """Sizes of the corpus; ``make()`` builds it."""

    n_documents: int = 75_000
    n_classes: int = 20
    vocabulary: int = 50_000
    mean_length: int = 120
    topic_words: int = 60
    topic_share: float = 0.007
    zipf: float = 1.1
    n_features: int = 2**18
    seed: int = 0

    def documents(self):
        """``(texts, labels)``: ``n_documents`` strings and their classes."""
        rng = np.random.default_rng(self.seed)
        ranks = np.arange(1, self.vocabulary + 1, dtype=np.float64)
        background = ranks**-self.zipf
        background /= background.sum()
        # each class: topic words drawn from the whole vocabulary (topics overlap)
        topics = np.stack([
            rng.choice(self.vocabulary, self.topic_words, replace=False)
            for _ in range(self.n_classes)
        ])  # fmt: skip
        topic_p = ranks[: self.topic_words] ** -0.8
        topic_p /= topic_p.sum()
        labels = rng.integers(0, self.n_classes, self.n_documents)
        lengths = np.maximum(5, rng.poisson(self.mean_length, self.n_documents))
        total = int(lengths.sum())
        words = rng.choice(self.vocabulary, total, p=background)
        from_topic = rng.random(total) < self.topic_share
        doc_of_word = np.repeat(np.arange(self.n_documents), lengths)
        picks = rng.choice(self.topic_words, int(from_topic.sum()), p=topic_p)
        words[from_topic] = topics[labels[doc_of_word[from_topic]], picks]
        names = np.char.add("w", words.astype(str))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        texts = [
            " ".join(names[bounds[i] : bounds[i + 1]]) for i in range(self.n_documents)
        ]
        return texts, labels

    def vectorizer(self):
        """scikit-learn's ``HashingVectorizer`` of the out-of-core example (no
        normalisation: the tf-idf weighting that follows normalises)."""
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            n_features=self.n_features, alternate_sign=False, norm=None
        )

    def make(self, test_fraction=0.2):
        """``(X_train, X_test, y_train, y_test)``: CSR float64, tf-idf rows of
        unit norm (the idf fitted on the training rows)."""
        from sklearn.feature_extraction.text import TfidfTransformer

        texts, labels = self.documents()
        counts = self.vectorizer().transform(texts)
        n_train = int(round(self.n_documents * (1 - test_fraction)))
        tfidf = TfidfTransformer(sublinear_tf=True).fit(counts[:n_train])
        X = tfidf.transform(counts).astype(np.float64)
        X.sort_indices()
        return X[:n_train], X[n_train:], labels[:n_train], labels[n_train:]
