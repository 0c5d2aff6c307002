"""Progress bars as plain text, in terminals and notebooks alike.

tqdm's notebook bars are ipywidgets: an executed notebook then carries widget state, and the built book
would load a widget manager from a CDN to draw it. Text bars show the same progress and keep the
pages static and offline.
"""

from tqdm import tqdm as progress_bar

__all__ = ["progress_bar"]
