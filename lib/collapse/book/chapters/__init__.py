"""One module per chapter of the book (``chapters/<name>.md``): its typed ``Settings``
(defaults: the ``quick`` profile; ``SMOKE`` and ``PAPER`` list what differs), what the
paper and the authors' code say about them (``REFERENCE``), a peak-memory estimate, and
the chapter's own helpers (tables, experiment set-up) that are not part of a model
family. See :mod:`collapse.book.settings`."""
