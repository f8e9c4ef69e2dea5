VALUE = "sibling import works"
