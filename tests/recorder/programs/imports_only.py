import json, threading
