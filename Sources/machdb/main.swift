print("machdb")
