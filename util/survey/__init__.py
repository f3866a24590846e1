"""A real-vs-fake human study of generated faces: build a survey, serve it on localhost, score it.

The three parts are used by ``scripts/survey.py`` and share one folder per survey:

    build.py    picks a balanced random set of real and generated images, copies them under opaque
                names in one format and size, and writes the page, ``survey.json`` and the answer key
    store.py    the append-only, fsync'd answer log and the replay that turns it into respondents
                (the server restores its state from it; the scoring reads it)
    server.py   the HTTP server: the page, the images and a small JSON API, one respondent at a time
                in their own random order, every answer on disk before it is acknowledged
    scoring.py  fooling rate, error rate, score distribution, confidence intervals, the report

Survey folder::

    survey.json   public: survey id, title, image ids (no labels), image format, exposure time, and
                  the kind of face shown (faces: masked, unmasked, or null where the build could not tell)
    key.json      the answer key (id -> real/fake, source file, sha256); never served
    index.html    the page
    images/       <id>.png (or .jpg), every image re-encoded at one size without metadata
    answers.jsonl the answer log (created by ``serve``)
    report/       written by ``score``
"""
