from asok import Asok

app = Asok()
