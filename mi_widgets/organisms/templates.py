"""The sentence templates behind `mi_widgets.organisms.stories`, kept apart from the code that renders them.

The syntax of a template is described in `mi_widgets.organisms.stories`. A = hero, B = friend, P = pet, and
"A.he" etc. are A's pronouns. Introduced in ``notebooks/01_models/01_models.ipynb``.
"""

from __future__ import annotations


def _sections(block: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """`[name]` starts a section; each line is one entry, its parts split by ` | `."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for line in block.strip().splitlines():
        if line.startswith("["):
            entries = out.setdefault(line.strip("[]"), [])
        else:
            entries.append(tuple(line.split(" | ")))
    return {name: tuple(entries) for name, entries in out.items()}


SPAN_KINDS = ("song", "magic", "list", "code", "flag")  # entry order of the span_* sections below

# Sentence templates (syntax in `mi_widgets.organisms.stories`). A = hero, B = friend, P = pet, and
# "A.he" etc. are A's pronouns. Entry i of `problem` is solved by entry i of `help`. In `ioi`
# an intro ending in "," takes no filler sentences before the action; `ioi_drill_intro` and
# `ioi_drill_action` are more halves of such scenes that only the drills (`stories.ioi_drills`)
# use, with adverbs from `ioi_drill_adverb` after the subject. A `related` entry is cue | target | sentence with the cue {c} | later sentence with the
# target {t}.
TEMPLATES = _sections("""
[opener]
Once upon a time, there was {an kind} named {A}.
Once upon a time, in {an townadj} {town}, there lived {an kind} named {A}.
Once upon a time, {an kind} named {A} lived {where}.
There once was {an kind} named {A}.
In {an townadj} {town}, there lived {an kind} named {A}.
{A} was {an kind} who lived {where}.
Once upon a time, there was {an kind}. | The {kindnoun}'s name was {A}.
[fact]
{A.He} was {age} years old.
{A.He} was {age} years old, and soon {A.he} would be {age1}.
{A.His} favorite color was {colour}.
{A.His} birthday was in {month}.
It was the end of {month}, and soon it would be {month1}.
Today {A.he} felt very {feeling}.
On {d0}, {A.he} {vp0} with {A.his} {fam0}. | On {d1}, {A.he} {vp1} with {A.his} {fam1}.
On {d0}, {A.he} went to the {place2}. | On {d1}, {A.he} {vp0} with {A.his} {fam0}. | On {d2}, {A.he} stayed home.
Every {d0}, {A.he} visited {A.his} {fam0}.
[toy]
{A.He} had {an toyadj} {toy} that {A.he} loved very much.
{A.His} favorite toy was {an toyadj} {toy}.
{A} loved to play with {A.his} {toyadj} {toy}.
[home]
{A.He} lived in {an homeadj} {home} {homedesc}.
{A} and {A.his} {fam0} lived in {an homeadj} {home} {homedesc}. | The {home:repeat_noun} {homedetail}.
[pet]
{A.He} had a pet {pet} named {P}. | {P} loved to play with {A}.
{A}'s best friend at home was {an pet} named {P}.
[start]
{=One:story_start} day, {A} went to the {place} with {A.his} friend {B}.
{=One:story_start} {weather} morning, {A} met {an bkind} named {B} at the {place}.
{=One:story_start} day, {A} saw {an bkind} named {B} near the {place}.
{=One:story_start} {dstart}, {A}'s friend {B} came over to play.
{=One:story_start} afternoon, {B} knocked on {A}'s door. | "Let's go to the {place}!" said {B}.
{=Then:story_start} one day, {A} and {A.his} friend {B} went to the {place}.
{=On:story_start} {dstart}, {A} went to the {place} and met {B}.
[pet_line]
{P} came along too.
{P} wagged {P.his} {=tail:skip_trigram}.
{P} jumped up and {=down:skip_trigram}.
[ioi]
When {X} and {Y} went to the {place}, | {S} gave {an thing} to {IO:ioi}.
{X} and {Y} were playing at the {place}. | {S} threw the ball to {IO:ioi}.
After {X} and {Y} had lunch, | {S} gave the last {food} to {IO:ioi}.
{X} and {Y} found {an thing} on the ground. | {S} gave it to {IO:ioi}.
{X} and {Y} sat down on a bench. | {S} told a funny story to {IO:ioi}.
Later, {X} and {Y} made some cookies. | {S} handed a cookie to {IO:ioi}.
{X} and {Y} walked to the {place} together. | Then {S} passed {an toy2} to {IO:ioi}.
While {X} and {Y} were at the {place}, | {S} showed {an colour} {thing} to {IO:ioi}.
{X} and {Y} sat under a big tree. | {S} sang a song to {IO:ioi}.
{X} and {Y} went to the shop. | {S} bought {an food} for {IO:ioi}.
Once {X} and {Y} got home, | {S} read a story to {IO:ioi}.
{X} and {Y} played in the snow. | {S} threw a snowball at {IO:ioi}.
[ioi_drill_intro]
{X} and {Y} went for a walk by the {place}.
{X} and {Y} spent the day at the {place}.
{X} and {Y} sat by the window.
{X} and {Y} built a fort out of blankets.
In the morning, {X} and {Y} woke up early.
On {dstart}, {X} and {Y} visited the {place}.
{X} and {Y} were drawing pictures.
{X} and {Y} came back from the {place}.
{X} and {Y} planted seeds in the garden.
Before dinner, {X} and {Y} fed the ducks.
{X} and {Y} had a picnic near the {place}.
As soon as {X} and {Y} arrived,
When the rain stopped, {X} and {Y} ran outside.
Since {X} and {Y} were bored,
Just as {X} and {Y} sat down,
Because {X} and {Y} were hungry,
When {X} and {Y} came inside,
Before {X} and {Y} went to bed,
Once {X} and {Y} finished the game,
Once {X} and {Y} were ready,
{X} met {Y} at the {place}.
{X} was waiting for {Y} by the gate.
{X} ran into {Y} near the {place}.
{X} visited {Y} on {dstart}.
[ioi_drill_action]
{S} baked a cake for {IO:ioi}.
{S} made a card for {IO:ioi}.
{S} picked {an colour} flower for {IO:ioi}.
{S} drew a picture for {IO:ioi}.
{S} saved a seat for {IO:ioi}.
{S} held the door for {IO:ioi}.
Then {S} poured some milk for {IO:ioi}.
{S} sang a little tune for {IO:ioi}.
{S} waved at {IO:ioi}.
{S} smiled at {IO:ioi}.
{S} winked at {IO:ioi}.
Then {S} pointed at {IO:ioi}.
{S} splashed water at {IO:ioi}.
{S} rolled the ball to {IO:ioi}.
{S} sent a letter to {IO:ioi}.
{S} whispered a secret to {IO:ioi}.
{S} offered some {food_pl} to {IO:ioi}.
Then {S} tossed {an thing} to {IO:ioi}.
{S} kicked the ball to {IO:ioi}.
{S} said goodbye to {IO:ioi}.
[ioi_drill_adverb]
quickly
happily
gently
proudly
slowly
carefully
kindly
suddenly
quietly
shyly
[ioi_reaction]
{IO} said, "Thank {=you:skip_trigram}, {S}!"
{IO} smiled at {S}.
"Wow, thank {=you:skip_trigram}!" said {IO}.
[gap]
The sun was warm and bright.
Birds sang in the trees.
There were {colour} flowers everywhere.
{AB.They} laughed and ran around.
A soft wind blew.
It was {an weather} day.
[thing]
{A} found {an thingadj} {thing} on the ground. | The {thing:repeat_noun} was {colour} and {adj2}.
{A} saw {an thingadj} {thing} by the path. | {A.He} put the {thing:repeat_noun} in {A.his} bag.
[game]
{AB.They} played hide and seek. | {B} closed {B.his} eyes and counted, "{hideseq}!" | {A} hid behind the {hidespot}.
[plural]
At the {plplace}, {A} saw lots of {pl}. | {A.He} liked {an adj2} {sg:plural_singular} best.
{A} counted the {pl}: {countseq}. | There were {countn} {pl}, and the last {sg:plural_singular} was {adj2}.
There were so many {pl} at the {plplace}! | {A} looked at {an adj2} {sg:plural_singular} for a long time.
[plural_animal]
{A} went to see the {pl} at the {plplace}. | One {sg:plural_singular} came right up to {A}.
{A} watched the {pl}. | {A.He} saw {an adj2} {sg:plural_singular} and went to see it up {=close:skip_trigram}.
[plural_object]
At the {plplace}, there were many {pl}. | {A} picked up {an adj2} {sg:plural_singular}.
[filler]
{A} smiled.
{A} thought for a moment.
{A} looked around.
{A} hummed a little song.
[span_first]
{A} made up a funny song. {A.He} sang, "{s0} {srest}!"
{A} knew some magic words: "{s0} {srest}."
{A}'s {fam0} gave {A.him} a list: {s0} {srest}.
The secret code was {s0} {srest}.
{A} painted a flag with stripes: {s0} {srest}.
[span_again]
{A} sang the song again: "{s0} {srest:repeat_span}!"
{A} said the magic words again: "{s0} {srest:repeat_span}."
{A} read the list again: {s0} {srest:repeat_span}.
{A} said the secret code: {s0} {srest:repeat_span}.
Then {A} painted one more flag: {s0} {srest:repeat_span}.
[span_last]
Before bed, {A} and {B} sang it together: "{s0} {srest:repeat_span}!"
{A} whispered the magic words one last time: "{s0} {srest:repeat_span}."
At home, {A} checked the list once more: {s0} {srest:repeat_span}.
{B} said the code too: {s0} {srest:repeat_span}.
{A} painted a third flag: {s0} {srest:repeat_span}.
[skip]
{A} took a deep {=breath:skip_trigram}.
{A} smiled from ear to {=ear:skip_trigram}.
{A} looked left and {=right:skip_trigram}.
{A} ran as fast as {A.he} {=could:skip_trigram}.
{A} shook {A.his} {=head:skip_trigram}.
{A} tried {A.his} {=best:skip_trigram}.
{A} could not believe {A.his} {=eyes:skip_trigram}.
{A} clapped {A.his} {=hands:skip_trigram} with joy.
{A} rubbed {A.his} {=eyes:skip_trigram} and yawned.
[problem]
But when {A} got home, {A.his} {toy:repeat_noun} was gone. | {A} cried, "Oh no! Where is my {toy:repeat_noun}?"
Then the wind blew {A.his} {toy:repeat_noun} into a tall tree. | "Oh no!" said {A}. "My {toy:repeat_noun} is stuck!"
Then {A} dropped {A.his} {toy:repeat_noun}, and it broke. | "My {toy:repeat_noun} is broken!" {A} said sadly.
Then {A} tripped and hurt {A.his} {body}. | "Ouch!" {A} cried. "It hurts!"
Suddenly, there was a loud noise behind a bush. | {A} was scared and hid behind {B}.
Then dark clouds came, and it began to rain. | "Oh no, we will get wet!" said {A}.
Later, {A} sat alone and looked sad. | {B} asked, "Why are you sad, {A}?" | "I have no one to play with," said {A}.
After a while, {A} felt very hungry. | "I want something to eat," {A} said.
[help]
{B} said, "Don't worry, {A}. I will help you look." | At last, {B} found the {toy:repeat_noun} under the {hidespot}.
{B} said, "I can help! I am good at climbing." | {B} climbed up the tree and got the {toy:repeat_noun}.
{B} asked, "Can I help you fix it?" | {AB.They} worked together, and soon the {toy:repeat_noun} was as good as new.
{B} ran over and asked, "Are you okay, {A}?" | {B} gave {A} a big {=hug:skip_trigram}.
{B} went to look. | "It is only a little {small}!" {B} laughed.
{B} had a big {colour} umbrella. | "Come under here!" said {B}.
"You can play with me!" said {B}. | {AB.They} played with {A}'s {toy:repeat_noun} all afternoon.
{B} opened {B.his} bag and found two {food_pl}. | "Let's share," said {B}.
[thanks]
"Thank {=you:skip_trigram}, {B}!" said {A}.
{A} smiled and said, "Thank {=you:skip_trigram}, {B}. You are a good friend."
{A} said thank {=you:skip_trigram} to {B} and gave {B.him} a hug.
[summary]
From that day on, {A} and {B} were best friends.
From that day on, {A} always kept {A.his} {toy:repeat_noun} safe.
{A} and {B} played together until the sun went down.
{A} learned that friends always help each other.
{A} was very happy, and so was {B}.
{A} waved {=goodbye:skip_trigram} to {B}.
[home_ending]
Then {A} went back to the {home:repeat_noun}.
Back in the {home:repeat_noun}, {A} told {A.his} {fam0} all about the day.
[final]
That night, {A} brushed {A.his} {=teeth:skip_trigram} and went to {=bed:skip_trigram}.
{A} was so tired that {A.he} fell {=asleep:skip_trigram} right away.
{AB.They} lived happily ever after.
{A} went to bed with a big smile.
It was the best day ever.
[related]
zebra | stripes | At the zoo, {A} saw a {c}. | {A.He} liked its black and white {t:related_concept}.
nurse | bandage | {A} hurt {A.his} knee, so a kind {c} came to help. | She put a {t:related_concept} on it.
monkey | jungle | {A} read a book about a funny {c}. | It lived in a big green {t:related_concept}.
octopus | ocean | {A} saw a picture of an {c}. | It lived deep in the {t:related_concept}.
bookshelf | book | There was a tall {c} in {A}'s room. | {A} took a {t:related_concept} and began to read.
park | grass | {A} went to the {c} with {A.his} ball. | {A.He} sat down on the soft {t:related_concept}.
lunchtime | eat | Soon it was {c}. | {A} was very ready to {t:related_concept}.
tree | climb | {A} saw a tall {c}. | {A.He} wanted to {t:related_concept} it.
laundry | clothes | {A}'s mom was doing the {c}. | {A} helped her fold the {t:related_concept}.
road | driving | {A} lived near a long {c}. | Every day, many cars were {t:related_concept} by.
emergency | doctor | "This is an {c}!" said {A}. | They called the {t:related_concept} right away.
milk | spilled | {A} poured a big glass of {c}. | Oops! {A.He} {t:related_concept} it on the floor.
hammer | nails | {A}'s dad took out his {c}. | He needed some {t:related_concept} to fix the fence.
bee | honey | {A} saw a little {c} on a flower. | It was busy making {t:related_concept}.
cow | milk | On the farm, {A} met a big {c}. | The farmer gave {A} a cup of fresh {t:related_concept}.
rain | umbrella | Then the {c} came down. | {A} opened {A.his} {t:related_concept}.
snow | snowman | In the morning, there was {c} everywhere. | {A} went out and made a big {t:related_concept}.
birthday | cake | It was {A}'s {c}. | Mom made a big {t:related_concept} with candles.
bath | bubbles | It was time for a {c}. | {A} played with the {t:related_concept}.
bed | asleep | {A} got into {c}. | Soon {A.he} was fast {t:related_concept}.
sun | hot | The {c} was very bright. | It was so {t:related_concept} that {A} wanted a drink.
fire | smoke | There was a small {c} in the yard. | {A} saw gray {t:related_concept} in the air.
goldfish | water | {A} had a little {c}. | It swam round and round in the {t:related_concept}.
bird | nest | {A} saw a little {c}. | It was sitting in its {t:related_concept}.
dog | bark | A big {c} came by. | It began to {t:related_concept} very loudly.
cat | purr | {A} petted the soft {c}. | It began to {t:related_concept}.
farmer | tractor | {A} met a kind {c}. | He drove a big red {t:related_concept}.
teacher | school | {A} liked {A.his} {c} very much. | {A.He} was happy to go to {t:related_concept}.
garden | flowers | {A} helped in the {c}. | {A.He} watered all the {t:related_concept}.
beach | sand | {A} went to the {c}. | {A.He} built a castle out of {t:related_concept}.
boat | sail | {A} saw a little {c} on the lake. | It had a white {t:related_concept}.
train | tracks | {A} heard a {c} far away. | It went fast along the {t:related_concept}.
pirate | treasure | {A} played that {A.he} was a {c}. | {A.He} looked for {t:related_concept} in the sand.
key | lock | {A} found a small gold {c}. | It fit in the old {t:related_concept}.
paint | brush | {A} wanted to {c} a picture. | {A.He} picked up a {t:related_concept}.
thirsty | water | {A} was very {c}. | {A.He} drank a big cup of {t:related_concept}.
sick | medicine | {A} felt {c} and stayed in bed. | Mom gave {A} some {t:related_concept}.
night | stars | It was {c}. | {A} looked up at the {t:related_concept}.
moon | sky | {A} saw the {c}. | It was big and round in the dark {t:related_concept}.
winter | coat | It was a cold {c} day. | {A} put on {A.his} warm {t:related_concept}.
kitchen | cook | {A} went into the {c}. | Dad was about to {t:related_concept} dinner.
spider | web | {A} saw a tiny {c}. | It was making a {t:related_concept}.
chicken | eggs | {A} fed the {c}. | It had laid three {t:related_concept}.
squirrel | nuts | {A} saw a {c} in the tree. | It was hiding {t:related_concept}.
rabbit | carrot | {A} saw a {c} in the field. | It was eating a {t:related_concept}.
scissors | cut | {A} found some {c}. | {A.He} wanted to {t:related_concept} the paper.
broom | sweep | {A} took a {c}. | {A.He} began to {t:related_concept} the floor.
wind | kite | The {c} was strong. | {A} flew {A.his} {t:related_concept} high.
lion | roar | {A} saw a {c} at the zoo. | It gave a loud {t:related_concept}.
shop | counter | {A} went into the {c}. | {A.He} put {A.his} apples on the {t:related_concept}.
dentist | teeth | {A} went to see the {c}. | The {c} looked at {A}'s {t:related_concept}.
mailman | letter | The {c} came to the door. | He had a {t:related_concept} for {A}.
""")
RELATED_SCENES: dict[tuple[str, str], tuple[str, str]] = {
    (cue, target): sentences for cue, target, *sentences in TEMPLATES["related"]
}
RELATED: tuple[tuple[str, str], ...] = tuple(RELATED_SCENES)
