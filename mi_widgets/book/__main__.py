"""``python -m mi_widgets.book``: execute the notebooks and build the site (see `mi_widgets.book.build`)."""

from mi_widgets.book.build import main

main()
