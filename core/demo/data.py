"""Reference lists the demo dataset draws from: scales, metros, agents, names, copy and reply texts."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    workspaces: int
    contacts: int
    zips_per_client: int
    campaigns: int
    steps: int
    days: int
    reply_boost: float = 1.0  # more replies at the same interested count (benchmark volume)


SCALES = {
    "small": Scale(
        workspaces=12, contacts=60_000, zips_per_client=40, campaigns=24, steps=3, days=120
    ),
    "full": Scale(
        workspaces=20,
        contacts=1_000_000,
        zips_per_client=70,
        campaigns=50,
        steps=4,
        days=180,
        reply_boost=1.3,
    ),
    # the start of the 10x demo (core/demo/scale.py copies each client nine times)
    "tenfold": Scale(
        workspaces=20,
        contacts=1_000_000,
        zips_per_client=70,
        campaigns=50,
        steps=4,
        days=730,
        reply_boost=0.33,  # four times the days at about a quarter of the replies a day
    ),
}


# Metro areas where independent home-insurance agents commonly buy territory: (city, state, lat, lon).
METROS = [
    ("Dallas", "TX", 32.7767, -96.7970),
    ("Atlanta", "GA", 33.7490, -84.3880),
    ("Charlotte", "NC", 35.2271, -80.8431),
    ("Tampa", "FL", 27.9506, -82.4572),
    ("Nashville", "TN", 36.1627, -86.7816),
    ("Phoenix", "AZ", 33.4484, -112.0740),
    ("Denver", "CO", 39.7392, -104.9903),
    ("Columbus", "OH", 39.9612, -82.9988),
    ("Indianapolis", "IN", 39.7684, -86.1581),
    ("Kansas City", "MO", 39.0997, -94.5786),
    ("Oklahoma City", "OK", 35.4676, -97.5164),
    ("Houston", "TX", 29.7604, -95.3698),
    ("Orlando", "FL", 28.5383, -81.3792),
    ("Raleigh", "NC", 35.7796, -78.6382),
    ("Birmingham", "AL", 33.5186, -86.8104),
    ("Louisville", "KY", 38.2527, -85.7585),
    ("Richmond", "VA", 37.5407, -77.4360),
    ("San Antonio", "TX", 29.4241, -98.4936),
    ("Charleston", "SC", 32.7765, -79.9311),
    ("St. Louis", "MO", 38.6270, -90.1994),
]

AGENT_FIRST = [
    "Mark",
    "Dana",
    "Luis",
    "Rachel",
    "Tom",
    "Angela",
    "Brian",
    "Keisha",
    "Greg",
    "Maria",
    "Scott",
    "Heather",
    "Derek",
    "Priya",
    "Jason",
    "Monica",
    "Kyle",
    "Tasha",
    "Ryan",
    "Laura",
]
AGENT_LAST = [
    "Whitfield",
    "Okafor",
    "Ramirez",
    "Lindqvist",
    "Brennan",
    "Castillo",
    "Harlow",
    "Pruitt",
    "Delgado",
    "Abernathy",
    "Kowalski",
    "Tran",
    "McAllister",
    "Sutherland",
    "Vance",
    "Holloway",
    "Beaumont",
    "Reyes",
    "Gallagher",
    "Stroud",
]
AGENCY_SUFFIX = [
    "Insurance Agency",
    "Insurance Group",
    "Family Insurance",
    "Insurance Services",
    "Home & Auto Insurance",
    "Insurance Partners",
]

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Carlos",
    "Rosa",
    "Jamal",
    "Mei",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Kim",
    "Chen",
    "Okafor",
]
STREETS = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Willow",
    "Lakeview",
    "Hillcrest",
    "Sunset",
    "Park",
    "Meadow",
    "Ridge",
    "Spring",
    "Highland",
    "Forest",
    "River",
    "Magnolia",
    "Church",
    "Mill",
    "Valley",
]
STREET_TYPES = ["St", "Ave", "Dr", "Ln", "Ct", "Rd", "Way", "Blvd", "Pl", "Cir"]
EMAIL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "aol.com",
    "icloud.com",
    "att.net",
    "comcast.net",
]
SENDER_DOMAINS = [
    "homecoveragenews",
    "renewalreview",
    "policycheckin",
    "homeratewatch",
    "coveragecompare",
]

# Copy: per step, (subject, body) for the original and two variants.
STEPS_COPY = [
    [
        (
            "Your home insurance renews soon, {FIRST_NAME}",
            "Hi {FIRST_NAME},\n\nYour homeowner's policy on {ADDRESS} renews next month. I'm a local independent agent and can compare {a few|several} carriers for you in 10 minutes.\n\nWorth a quick look?\n\n{SENDER_FIRST_NAME}",
        ),
        (
            "Quick question about {ADDRESS}",
            "Hi {FIRST_NAME},\n\nWhen your policy renews, rates often jump. I shop {8|10|12} carriers at once for homeowners in {CITY}. Want me to run a free comparison?\n\n{SENDER_FIRST_NAME}",
        ),
        (
            "{FIRST_NAME}, renewal coming up",
            "Hi {FIRST_NAME},\n\nMost homeowners in {CITY} overpay at renewal. Reply 'yes' and I'll send you a side-by-side quote, no obligation!\n\n{SENDER_FIRST_NAME}",
        ),
    ],
    [
        (
            "Re: your renewal",
            "Hi {FIRST_NAME}, just bumping this up. Happy to send numbers before your renewal date.\n\n{SENDER_FIRST_NAME}",
        ),
        (
            "Re: your renewal",
            "{FIRST_NAME}, did you get a chance to look? Takes 10 minutes and could save you hundreds.\n\n{SENDER_FIRST_NAME}",
        ),
        (
            "Re: your renewal",
            "Hi {FIRST_NAME}, neighbours in {CITY} saved an average of $412 last year by comparing. Want yours?\n\n{SENDER_FIRST_NAME}",
        ),
    ],
    [
        (
            "Re: your renewal",
            "Hi {FIRST_NAME}, last note from me. If now isn't a good time, no worries at all.\n\n{SENDER_FIRST_NAME}\n\nReply 'stop' to opt out.",
        ),
        (
            "Re: your renewal",
            "{FIRST_NAME}, should I close your file? Reply 'quote' any time before your renewal.\n\n{SENDER_FIRST_NAME}\n\nReply 'stop' to opt out.",
        ),
        (
            "Re: your renewal",
            "Hi {FIRST_NAME} - FREE quote, NO obligation, BEST rates!!! Click here now.\n\n{SENDER_FIRST_NAME}",
        ),
    ],
    [
        (
            "One more thing about {ADDRESS}",
            "Hi {FIRST_NAME}, one more idea: bundling home and auto usually cuts 15-20%. Want me to check?\n\n{SENDER_FIRST_NAME}\n\nReply 'stop' to opt out.",
        ),
        (
            "Bundle and save, {FIRST_NAME}?",
            "{FIRST_NAME}, many {CITY} homeowners save by bundling. Shall I run both?\n\n{SENDER_FIRST_NAME}\n\nReply 'stop' to opt out.",
        ),
        (
            "Closing the loop",
            "Hi {FIRST_NAME}, closing the loop on your renewal. Here if you need me.\n\n{SENDER_FIRST_NAME}\n\nReply 'stop' to opt out.",
        ),
    ],
]
STEP_WAIT_DAYS = [1, 10, 20, 30]

# Reply texts by category: (category, sentiment, interested, automated, texts)
REPLY_KINDS = [
    (
        "interested",
        "positive",
        True,
        False,
        [
            "Yes please send me a quote.",
            "Sure, what do you need from me?",
            "I'd be interested. Call me after 5.",
            "Yes, my renewal went up a lot this year.",
            "Please do, my current premium is too high.",
            "Interested - can you include auto too?",
        ],
    ),
    (
        "not_interested",
        "negative",
        False,
        False,
        [
            "Not interested, thanks.",
            "No thank you, happy with my agent.",
            "We just renewed, not now.",
        ],
    ),
    (
        "question",
        "neutral",
        False,
        False,
        [
            "Who is this and how did you get my email?",
            "Which carriers do you work with?",
            "Do you cover flood?",
        ],
    ),
    ("unsubscribe", "negative", False, False, ["Stop", "Remove me from your list.", "Unsubscribe"]),
    (
        "wrong_person",
        "neutral",
        False,
        False,
        ["I sold that house last year.", "Wrong person, I rent."],
    ),
    (
        "out_of_office",
        "neutral",
        False,
        True,
        [
            "I am out of the office until Monday with limited access to email.",
            "Thank you for your email. I'm away and will reply when I return.",
        ],
    ),
    (
        "auto_reply",
        "neutral",
        False,
        True,
        ["This mailbox is not monitored.", "Your message has been received."],
    ),
]
