"""Hand-written paraphrases of BBH test questions (example index 12 of each task).

Each entry rewrites one test-split question in other words (same facts, same options) so
that the dispatcher is measured on wording it has never seen, not only on the BBH templates.
Written by hand for ``latm bench dispatch``; never used to tune the dispatcher.
"""

from __future__ import annotations

__all__ = ["PARAPHRASES"]

PARAPHRASES: list[tuple[str, str]] = [
    (
        "word_sorting",
        "Put these words in alphabetical order: lucrative you've tunnel archery bride "
        "coquette polytypy barbudo radix arlen lockwood teem officious",
    ),
    (
        "boolean_expressions",
        "What does this boolean expression evaluate to: not True or False or not not True",
    ),
    (
        "multistep_arithmetic_two",
        "Compute the value of ((8 - 2 + -2 * 6) * (8 + -6 + -8 + -1)).",
    ),
    (
        "object_counting",
        "My band room holds a piano, a flute and four trombones. What is the total number of "
        "musical instruments I own?",
    ),
    (
        "navigate",
        "Suppose you take 3 steps, turn around, take 3 steps, then turn right. Are you back "
        "where you began?\nOptions:\n- Yes\n- No",
    ),
    (
        "sports_understanding",
        'Does this sentence sound believable: "Jack Flaherty walked to first base in the '
        'National League Championship Series."?',
    ),
    (
        "date_understanding",
        "Jane left her job on Mar 20, 2020, and 176 days have gone by since. Which date was "
        "it exactly one year before today (MM/DD/YYYY)?\nOptions:\n(A) 09/20/2019\n"
        "(B) 10/01/2019\n(C) 10/24/2019\n(D) 09/12/1970\n(E) 09/12/2019",
    ),
    (
        "logical_deduction_three_objects",
        "Three birds sit on a branch in a fixed order: a blue jay, a falcon and a "
        "hummingbird. The blue jay sits right of the falcon, and the hummingbird sits left "
        "of the falcon. Which bird is second from the left?\nOptions:\n"
        "(A) The blue jay is the second from the left\n"
        "(B) The falcon is the second from the left\n"
        "(C) The hummingbird is the second from the left",
    ),
    (
        "logical_deduction_five_objects",
        "A shelf holds five books in a fixed order: a brown book, a yellow book, an orange "
        "book, a green book, and a gray book. The green one stands left of the gray one, the "
        "brown one is third from the left, the gray one is second from the right, and the "
        "yellow one is left of the green one. Which is third from the left?\nOptions:\n"
        "(A) The brown book is the third from the left\n"
        "(B) The yellow book is the third from the left\n"
        "(C) The orange book is the third from the left\n"
        "(D) The green book is the third from the left\n"
        "(E) The gray book is the third from the left",
    ),
    (
        "logical_deduction_seven_objects",
        "Seven golfers played a tournament: Joe, Dan, Ana, Mel, Ada, Eve, and Amy. Eve "
        "placed above Amy, Dan came second, Ada placed below Ana, Ana was third-to-last, Mel "
        "came last and Amy came third. Who came last?\nOptions:\n(A) Joe finished last\n"
        "(B) Dan finished last\n(C) Ana finished last\n(D) Mel finished last\n"
        "(E) Ada finished last\n(F) Eve finished last\n(G) Amy finished last",
    ),
    (
        "tracking_shuffled_objects_three_objects",
        "At a gift exchange, Alice, Bob, and Claire start with one gift each: Alice holds a "
        "red present, Bob a black ball, and Claire a white present. Bob and Alice trade "
        "first, then Claire and Bob trade, and finally Alice and Claire trade. What does Bob "
        "end up holding?\nOptions:\n(A) red present\n(B) black ball\n(C) white present",
    ),
    (
        "tracking_shuffled_objects_five_objects",
        "Five square dancers start a song with these partners: Alice with Karl, Bob with "
        "Jamie, Claire with Melissa, Dave with Lola, and Eve with Ophelia. During the song "
        "Bob and Claire swap partners, then Alice and Dave, then Bob and Alice, then Claire "
        "and Eve, and last Eve and Alice. Who is Claire's partner when the dance ends?\n"
        "Options:\n(A) Karl\n(B) Jamie\n(C) Melissa\n(D) Lola\n(E) Ophelia",
    ),
    (
        "tracking_shuffled_objects_seven_objects",
        "In a soccer match, Alice, Bob, Claire, Dave, Eve, Fred, and Gertrude begin as left "
        "winger, goalkeeper, center midfielder, right midfielder, fullback, left midfielder "
        "and cheerleader respectively. During the match these pairs swap positions in turn: "
        "Gertrude and Eve, Gertrude and Alice, Eve and Claire, Fred and Eve, Claire and "
        "Gertrude, Claire and Dave, and finally Fred and Bob. Where does Gertrude play at the "
        "end?\nOptions:\n(A) left winger\n(B) goalkeeper\n(C) center midfielder\n"
        "(D) right midfielder\n(E) fullback\n(F) left midfielder\n(G) cheerleader",
    ),
    (
        "web_of_lies",
        "Millie is truthful. Millicent claims that Millie is lying. Phoebe claims Millicent is "
        "truthful. Sherrie claims Phoebe is lying. Raymond claims Sherrie is truthful. Is "
        "Raymond telling the truth?",
    ),
    (
        "dyck_languages",
        "Finish this bracket sequence so that every parenthesis is properly closed: "
        "[ < [ ( ( ) < ( ) > ( { { } } [ [ [ < ( [ ] ) ( ) > ] ] ] { { { { { } } } { { } "
        "{ < [ [ ] ] > } } { } } } ) ) ] >",
    ),
    (
        "hyperbaton",
        "In which of these sentences are the adjectives in the right order?\nOptions:\n"
        "(A) Pakistani normal-size white paper good snorkeling monkey\n"
        "(B) good normal-size white Pakistani paper snorkeling monkey",
    ),
    (
        "geometric_shapes",
        'What shape does this SVG path draw: <path d="M 22.34,17.53 A 19.21,19.21 220.48 '
        '1,0 51.57,42.47 A 19.21,19.21 220.48 1,0 22.34,17.53"/>?\nOptions:\n(A) circle\n'
        "(B) heptagon\n(C) hexagon\n(D) kite\n(E) line\n(F) octagon\n(G) pentagon\n"
        "(H) rectangle\n(I) sector\n(J) triangle\n(K) ellipse",
    ),
    (
        "temporal_sequences",
        "Hannah visited the park today. She got up at 11am. Michael saw her having coffee at "
        "the cafe from 11am to 3pm, James saw her shopping for clothes at the mall from 3pm "
        "to 4pm, she was walking in the garden from 6pm to 8pm, Lisa saw her on a rooftop "
        "from 8pm to 9pm and Tiffany saw her at the train station from 9pm to 10pm. The park "
        "closes after 10pm. When could Hannah have visited the park?\nOptions:\n"
        "(A) 4pm to 6pm\n(B) 6pm to 8pm\n(C) 8pm to 9pm\n(D) 3pm to 4pm",
    ),
    (
        "causal_judgement",
        "Think about how an ordinary person would judge causation here. Ned's new motorboat "
        "starts when he turns the key if the gear is in neutral or the motor is in the lock "
        "position. Today the gear is in neutral and the motor is not locked. Ned checks the "
        "motor and moves it into the lock position. He turns the key and the boat starts. Did "
        "the boat start because Ned moved the motor?\nOptions:\n- Yes\n- No",
    ),
    (
        "movie_recommendation",
        "Which of these films is most like Forrest Gump, The Silence of the Lambs, Mission "
        "Impossible and Jurassic Park?\nOptions:\n(A) Joe Somebody\n(B) Dogfight\n"
        "(C) Independence Day\n(D) Twin Peaks Fire Walk with Me",
    ),
    (
        "formal_fallacies",
        "Consider this argument about cosmetics: every ingredient of SILKY EYE PENCIL 13 is "
        "an ingredient of Eye Restore or of 03 Bronzing Powder; no ingredient of SILKY EYE "
        "PENCIL 13 is an ingredient of 03 Bronzing Powder; hence being an ingredient of SILKY "
        "EYE PENCIL 13 suffices for being an ingredient of Eye Restore. Given only these "
        "premises, is the argument deductively valid or invalid?\nOptions:\n- valid\n- invalid",
    ),
]
