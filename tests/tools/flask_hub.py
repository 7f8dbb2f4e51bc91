"""An independent WebSub hub for feedmerge's tests: Flask-WebSub 0.4.1's (PyPI), on
127.0.0.1, its Celery tasks run in-process (eagerly), `hub.mode=publish` allowed so that a
test can announce a change. `GET /callbacks?topic=URL` lists the topic's subscribers.

Usage: flask_hub.py PORT STORAGE_FILE
"""
import logging
import sys

from celery import Celery
from flask import Flask, jsonify, request
from flask_websub.hub import Hub, SQLite3HubStorage

port, storage = int(sys.argv[1]), sys.argv[2]
app = Flask(__name__)
app.config["PUBLISH_SUPPORTED"] = True
celery = Celery("hub", broker="memory://", backend="cache+memory://")
celery.conf.task_always_eager = True
hub = Hub(SQLite3HubStorage(storage), celery, PUBLISH_SUPPORTED=True)
app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))


@app.route("/callbacks")
def callbacks():
    return jsonify([callback for callback, _ in hub.storage.get_callbacks(request.args["topic"])])


logging.basicConfig(level=logging.WARNING)
app.run(host="127.0.0.1", port=port, threaded=True)
