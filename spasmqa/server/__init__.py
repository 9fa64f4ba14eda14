"""``spasmqa serve``: a JSON API and a web page over one loaded ``Index`` (FastAPI on uvicorn, ``spasmqa[serve]``).

    settings.py   ServerSettings: the limits one server enforces
    batching.py   questions that arrive together answered in one ``ask_many`` call
    page.py       the HTML of the page, its answers and the document view (all text escaped)
    app.py        create_app(index, settings): the routes, the limits and the JSON errors
    run.py        serve(): load and warm the index, then open the port with uvicorn
"""
