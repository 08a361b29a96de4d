"""What the safety plugin (plugins/safety.py) looks for. Data only, no logic.

Each category table maps a level to ``{"en": [...], "zh": [...]}``. Entries under
"standard" apply at standard and strict; entries under "strict" only at strict.
An entry is either

* a regex: a match blocks; or
* a pair ``(context, anchor)``: a match of ``anchor`` blocks only when
  ``context`` also matches in the same sentence, within CONTEXT_WINDOW
  characters of it ("how do I" ... "kill my neighbour").

The text is NFKC-normalised and lower-cased first; Chinese rules see it with
the spaces between Chinese characters removed. English matches must start at a
word boundary (the plugin checks; patterns do not begin with ``\\b``).

Speed rules, measured by bench/bench_safety.py on hostile 100 KB strings:

* every pattern and anchor starts with a literal character or a group of
  literal-led alternatives, never ``\\b``, a look-behind or an optional group:
  then Python's regex engine skips most positions on their first character;
* lower-case only, no re.IGNORECASE (it switches that skipping off);
* no nested unbounded quantifiers; gaps are bounded (``[^.?!\\n]{0,30}?``).

The word lists are short on purpose: they name clear cases. ``standard`` is
tuned for precision; ``strict`` trades false positives for recall.
"""

# -- shared English fragments ---------------------------------------------------

# Asking how to do something, or saying one means to (a context, so \b is fine here).
ASKING = (r"\bhow (?:do|can|could|should|would|will|might|to|does one|would one|best to)\b"
          r"|\b(?:best|easiest|quickest|fastest|safest|surest|cleanest|simplest|good|effective|perfect|quietest)"
          r" (?:way|ways|method|methods|means|strategy|plan)\b"
          r"|\bways? (?:of|to)\b|\bmethods? (?:of|to|for)\b|\bsteps? (?:to|for)\b|\bprocess for\b"
          r"|\b(?:good|best|ideal|perfect|safe) (?:place|time|spot) to\b"
          r"|\b(?:teach|show|help|tell) me\b|\b(?:can|could|should|shall) (?:i|we)\b"
          r"|\bi (?:want|need|plan|intend|am going|will|wanna|gonna|would like|am about)\b"
          r"|\bi'(?:m going|m about|m planning|ll)\b")
FIRST_PERSON = r"\b(?:i|i'm|im|me)\b"
# A human being as the object of a verb: "someone", "a person", "my wife", "the president".
PERSON_NOUN = (r"(?:person|people|human|humans|man|woman|child|children|kid|kids|baby|babies|toddler|girl|boy"
               r"|wife|husband|spouse|partner|girlfriend|boyfriend|ex|ex-wife|ex-husband|mother|mom|mum|father|dad"
               r"|parents?|brother|sister|son|daughter|grandparents?|grandmother|grandma|grandfather|grandpa"
               r"|family|relatives?|friends?|roommate|flatmate|neighbou?rs?|boss|manager|coworkers?|co-workers?"
               r"|colleagues?|classmates?|teachers?|students?|landlord|stranger|strangers|cops?|police officers?"
               r"|policem[ae]n|officer|politicians?|president|prime minister|senator|mayor|governor|judge"
               r"|doctor|nurse|victim|hostage|tinder date)")
PERSON = (r"(?:someone|somebody|anyone|anybody|everyone|everybody|people|humans|humanity|mankind|the human race"
          r"|(?:a|an|the|my|his|her|their|our|your)\s+(?:[a-z'-]+\s+)?" + PERSON_NOUN + r"\b(?!'s)"
          r"|a (?:dead )?body|the (?:dead )?body|dead bodies|corpses?|a (?:village|town|city)"
          r"|an entire (?:city|town|village|population|family)|(?:a|the) population\b)")
QUANT = r"(?:(?:a group of|groups of|a bunch of|all the|all|the most|as many|lots of|a lot of|many)\s+)?"
KILL = (r"(?:kill(?:ing)?|murder(?:ing)?|stab(?:bing)?|shoot(?:ing)?|strangl(?:e|ing)|poison(?:ing)?"
        r"|behead(?:ing)?|execut(?:e|ing)|assassinat(?:e|ing)|slaughter(?:ing)?|tortur(?:e|ing)"
        r"|kidnap(?:ping)?|abduct(?:ing)?|dismember(?:ing)?|drown(?:ing)?|suffocat(?:e|ing)|smother(?:ing)?"
        r"|decapitat(?:e|ing)|lynch(?:ing)?|gut(?:ting)?|butcher(?:ing)?|burn(?:ing)? alive|bur(?:y|ying) alive"
        r"|terminat(?:e|ing)|eliminat(?:e|ing)|liquidat(?:e|ing)|get(?:ting)? rid of|do(?:ing)? away with"
        r"|dispos(?:e|ing) of|hunt(?:ing)? down|chok(?:e|ing)|hang(?:ing)?|euthani[sz](?:e|ing)"
        r"|wip(?:e|ing) out|annihilat(?:e|ing)|obliterat(?:e|ing)|exterminat(?:e|ing)|decimat(?:e|ing)"
        r"|massacr(?:e|ing)|slay(?:ing)?|snip(?:e|ing)|captur(?:e|ing)|throttl(?:e|ing)|attack(?:ing)?"
        r"|assault(?:ing)?|beat(?:ing)? up|overpower(?:ing)?)")
PLACE = (r"(?:school|class(?:room)?|office|workplace|church|mosque|synagogue|temple|mall|concert|stadium|hospital"
         r"|campus|college|university|airport|station|subway|parade|festival|government building|embassy"
         r"|courthouse|police station|city hall|house|home|building|army base|military base)")
BODY_OWNER = (r"(?:someone'?s|somebody'?s|people's|a (?:human|person|child|kid|man|woman|baby)(?:'s)?"
              r"|human|(?:my|his|her|their|the) (?:[a-z-]+ )?[a-z-]+'s|his|her|their)")
BODY_PART = (r"(?:skulls?|heads?|faces?|spines?|necks?|throats?|sternums?|ribs?|bones?|legs?|arms?|knees?"
             r"|kneecaps?|fingers?|eyes?|teeth|jaws?|kidneys?)")
GROUP_ALTS = (r"jews|jewish people|muslims|christians|hindus|sikhs|buddhists|atheists|black people|blacks"
              r"|white people|whites|asians|asian people|arabs|latinos|hispanics|mexicans|immigrants|refugees"
              r"|migrants|gays|gay people|lesbians|homosexuals|trans people|transgender people|queer people"
              r"|gypsies|roma(?: people)?|indigenous people|disabled people|the disabled|chinese people|africans")
GROUP = f"(?:{GROUP_ALTS})"
# A broader list for strict's "why should <group> not ..." questions.
GROUP_WIDE = (f"(?:{GROUP_ALTS}" r"|women|men|divorced people|elderly people|old people|homeless people"
              r"|people on benefits|pregnant women|non-binary people|asexual people|roma)")
ATROCITY_ALTS = (r"holocaust|nanjing massacre|nanking massacre|rwandan genocide|armenian genocide|trail of tears"
                 r"|srebrenica|holodomor|ethnic cleansing|slave trade|slavery|apartheid|khmer rouge|9/11")
ATROCITY = f"(?:{ATROCITY_ALTS})"
SEXUAL = (r"(?:sexy|nudes?|naked (?:pics?|photos?|pictures?|images?|videos?|selfies?)|porn\w*|erotic\w*|lewd|nsfw"
          r"|intercourse|orgasm\w*|seduc\w*|make out|making out"
          r"|hav(?:e|ing) sex(?! ?ed)|sex with|sex (?:scene|story|stories|acts?|tape)|sexual (?:story|stories|scene"
          r"|content|roleplay|role-play|acts?|fantas\w*|relations\w*|intercourse|pics?|photos?|images?|videos?)"
          r"|fondl\w*|masturbat\w*|horny|genitals?|penis|vagina)\b")
MINOR = (r"\b(?:child|children|kids?|minors?|underage|under-age|preteens?|pre-teens?|prepubescent|toddlers?"
         r"|little (?:girls?|boys?)|young (?:girls?|boys?)|schoolgirls?|schoolboys?|lolis?|shota"
         r"|(?:1[0-7]|[1-9])[- ]?(?:years?[- ]old|yo|y/o)"
         r"|(?:six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen)[- ]years?[- ]old)\b")

# -- shared Chinese fragments -----------------------------------------------------

ZHOW = r"(?:怎么|怎样|如何|用什么方法|用什么办法|有什么办法|有什么方法|哪种方法|教我|告诉我怎么)(?:才能|才可以|可以|能|去)?"
ZME = r"我(?:真的|好|很|都|也|已经|一直|总是|今晚|今天|明天|现在|马上|就|是真的|实在)?(?:真的|好|很|都|就)?"
ZINTENT = r"(?:想|要|打算|准备|计划|决定|想要|会)(?:去)?"
ZPERSON_ALTS = (r"人|别人|他人|某人|一个人|他|她|他们|她们|全家|所有人|那些人|孩子|小孩|老人|女人|男人"
                r"|总统|主席|警察|市长|领导|(?:我|我的|我们)(?:的)?(?:老板|老婆|老公|妻子|丈夫|前任|前妻|前夫|前女友|前男友"
                r"|女朋友|男朋友|同事|邻居|老师|同学|室友|父母|爸爸|妈妈|爸|妈|家人|领导|上司|孩子|儿子|女儿|朋友)")
ZPERSON = f"(?:(?:一个|一名|一位)?(?:{ZPERSON_ALTS}))"
ZGROUP = (r"(?:犹太人|穆斯林|回民|基督徒|黑人|白人|亚洲人|同性恋|同志|跨性别者?|外国人|移民|难民|少数民族"
          r"|维吾尔人|维族人|藏人|日本人|韩国人|印度人|非洲人|女人|女性|残疾人|农民工)")
ZMINOR = (r"(?:未成年人?|儿童|幼女|幼童|女童|男童|小孩|小女孩|小男孩|萝莉|正太|小学生|初中生|中学生"
          r"|(?:1[0-7]|[1-9]|十[一二三四五六七]?|[一二三四五六七八九])岁(?:的)?(?:女孩|男孩|少女|少年|孩子|小孩|女生|男生)?)")
ZSEX = (r"(?:色情|黄色(?:小说|故事|图片|视频|网站)|黄片|裸照|裸体|裸聊|性交|做爱|性爱|性关系|发生关系|上床|开房"
        r"|淫秽|淫荡|调教|啪啪)")

# -- categories -----------------------------------------------------------------
# Input rail order is priority order: the first category that matches decides
# the verdict (self-harm first, so a person in crisis always gets the support reply).

SELF_HARM = {
    "standard": {
        "en": [
            r"(?:kill|hang|drown|off)(?:ing)? my ?self\b",
            r"(?:end|take|ending|taking)\s+my\s+(?:own\s+)?life\b",
            (FIRST_PERSON, r"end(?:ing)? it all\b"),
            r"i(?:'m| am|'ve been| have been)?\s+(?:feel(?:ing)?\s+|so\s+|really\s+|very\s+|kind of\s+|pretty\s+)?"
            r"suicidal\b",
            (FIRST_PERSON, r"(?:feel|feeling|felt) (?:so |really |very |kind of |pretty |a bit )?suicidal\b"),
            (FIRST_PERSON, r"(?:commit|attempt|try)(?:ing)? suicide\b"),
            (ASKING, r"(?:commit(?:ting)? suicide|(?:kill|hang|drown)(?:ing)? (?:my|your) ?self)\b"),
            r"my suicide (?:note|plan|letter)\b",
            (r"\b(?:list|give me|tell me|what are|best|easiest|painless|quickest|surest)\b",
             r"suicide (?:methods?|ways?)\b"),
            r"i\s+(?:really\s+|just\s+|honestly\s+|kind of\s+)?(?:want|wanna|wish|need) to die\b",
            r"i wish i (?:was|were) dead\b",
            r"i(?:'d| would) be better off dead\b",
            r"no reason to live\b",
            r"(?:don'?t|do not|no longer) want to (?:live|be alive|exist|wake up|be here)(?: anymore| any more)?\b"
            r"(?!\s+(?:in|on|at|with|near|like|there|here|alone|together|without|for|if)\b)",
            r"what (?:can|should|could) i (?:take|drink|swallow|eat|use) to die\b",
            r"how (?:many|much)\s+(?:\w+\s+){0,2}?(?:pills?|tablets?|paracetamol|tylenol|acetaminophen|ibuprofen"
            r"|insulin|xanax|benzos?|opioids?|oxy\w*|mg)\b[^.?!\n]{0,40}?\b(?:die|lethal|fatal|overdose|od|kill me)\b",
            (ASKING, r"(?:hurt|harm|cut|burn|starve|poison|shoot|stab|punish|overdose)\s+my ?self\b"),
            r"i(?:'ve| have| am|'m)?\s+(?:been\s+)?(?:self[- ]?harm(?:ing)?|cutting myself)\b",
            r"(?:want|urge|urges) to (?:self[- ]?harm|cut (?:myself|again))\b",
            r"(?:slit|slash|sever|pierce|open up)(?:ting|ing)?\b[^.?!\n]{0,15}?\bmy (?:own )?"
            r"(?:wrists?|veins?|arter(?:y|ies)|cervical artery|throat)\b",
            r"(?:cut|carv|slash|scratch)\w{0,4}\b[^.?!\n]{0,20}?\binto my (?:arms?|skin|thighs?|legs?|wrists?)\b",
        ],
        "zh": [
            ZME + ZINTENT + r"(?:从[^。！？!?\n]{1,4})?(?:自杀|轻生|寻死|自尽|自残|了结自己|结束(?:自己的?|我的)?生命"
            r"|割腕|跳楼|跳河|跳桥|上吊|卧轨|烧炭|服毒|吃安眠药|跳下去)",
            r"我(?:真的|好|很|都|是真的|每天都|每天)?想死(?![你您他她它我]|的心)",
            r"不想活(?:了|下去)",
            r"活不下去了",
            r"活着(?:真)?没(?:有)?(?:意思|意义)",
            # "怎么自杀" asks for a method; "她是怎么自杀的" asks about history
            r"(?:怎(?<![是他她]怎)(?:么|样)|如(?<![是他她]如)何|教我|告诉我怎么)(?:才能|才可以|可以|能|去)?"
            r"(?:自杀|轻生|自尽|割腕|上吊|跳楼|服毒)(?![的了])",
            r"(?:无痛|不痛苦?|快速|有效|最快|简单|稳妥)的?(?:自杀|自尽|轻生)(?:的)?(?:方法|方式|办法|攻略|教程)",
            r"(?:自(?<!预防自)(?<!防止自)(?<!干预自)(?:杀|尽)|轻生)(?:的)?(?:方法|方式|办法|攻略|教程)",
            r"(?:多少|几)[片颗瓶克粒][^。！？!?\n]{0,8}?(?:才能|能|会|可以)?(?:死|致命|致死|没命)",
            r"(?:写好|写了|准备好?)(?:了)?遗书",
            r"了结(?:自己|我自己|此生|我的生命)",
            r"结束(?:我|自己)的生命",
        ],
    },
    "strict": {
        "en": [r"suicid\w*", r"self[- ]?harm\w*", r"(?:hurt|harm|cut|burn|punish)(?:ing)? my ?self\b",
               r"i hate my life\b", r"what'?s the point of living\b"],
        "zh": [r"自杀|自残|轻生|寻死|想死(?![你您他她它我])"],
    },
}

SEXUAL_MINORS = {
    "standard": {
        "en": [
            (MINOR, SEXUAL),
            r"(?:child|kiddie|kiddy|underage|minor|toddler|preteen|teen|jailbait)\s*porn\w*",
            r"csam\b", r"lolicon\b", r"shotacon\b",
            r"pedo(?:phile)?\s+(?:porn|content|stuff|videos?|pics?)\b",
            r"(?:satisfy|act on|indulge|fulfil?l|feed)\b[^.?!\n]{0,10}?\bpedophil\w*",
            r"molest(?:ing)?\s+(?:a |the |my |some )?(?:child|kid|minor|girl|boy|toddler|niece|nephew|daughter"
            r"|son|student)s?\b",
        ],
        "zh": [
            (ZMINOR, ZSEX),
            r"儿童色情|幼女(?:视频|资源)|恋童|我想猥亵|怎么猥亵",
        ],
    },
    "strict": {"en": [], "zh": []},
}

VIOLENCE = {
    "standard": {
        "en": [
            # threats against people or places, in the first person
            r"i(?:'m| am|'ll| will| am going to|'m going to|'m gonna| gonna| plan to| want to| intend to"
            r"|'m about to| shall| swear i'?ll)\s+(?:go\s+|really\s+|fucking\s+|seriously\s+)?"
            r"(?:kill|murder|shoot|stab|strangle|behead|slaughter|butcher|massacre|bomb|blow up|torch|burn down"
            r"|hurt|beat up|poison|run over|gun down)\s+(?:him|her|them|everyone|everybody|all of them|people"
            r"|whoever|anybody|anyone|" + PERSON + r"|(?:my|the|a|our|this|that|his|her)\s+(?:[a-z-]+\s+)?" + PLACE
            + r")\b",
            r"shoot(?:ing)? up\s+(?:my|the|a|our|this|that)\s+(?:[a-z-]+\s+)?" + PLACE + r"\b",
            r"explod(?:e|ing) a bomb\b",
            r"(?:plant|detonate|set off) a bomb (?:at|in|on)\b",
            r"(?:find|get|hire|pay)\s+(?:people|someone|somebody|a hitman|a hit man)\s+to\s+(?:kill|shoot|stab"
            r"|murder|hurt|beat up)\b",
            # asking how to kill or maim a person, or attack a place
            (ASKING, KILL + r"\s+" + QUANT + PERSON),
            (ASKING, r"(?:bomb(?:ing)?|blow(?:ing)? up|burn(?:ing)? down|set(?:ting)? fire to|shoot(?:ing)? up"
                     r"|attack(?:ing)?)\s+(?:my|the|a|an|our|this|that)\s+(?:[a-z-]+\s+)?" + PLACE + r"\b"),
            (ASKING, r"set(?:ting)?\s+(?:my|the|a|an|our|this|that)\s+(?:[a-z-]+\s+)?" + PLACE + r"\s+on fire\b"),
            (ASKING, r"(?:smash|crack|break|crush|cave|bash|slit|snap|gouge|rip|tear|cut|chop|saw|hammer|shatter"
                     r"|split)\w{0,4}\s+(?:in\s+|open\s+|off\s+|out\s+|up\s+)?" + BODY_OWNER + r"\s+" + BODY_PART
                     + r"\b"),
            (ASKING, r"(?:saw|chop|cut|hack|dismember)\w{0,4}\s+(?:up\s+)?(?:a|the|his|her|my)\s+(?:dead\s+)?"
                     r"(?:body|bodies|corpse)\b"),
            (ASKING, r"(?:make|build|assembl\w*|construct|detonat\w*|plant|set off|explod\w*|mak\w*)\s+"
                     r"(?:a |an |some )?(?:pipe |nail |car |homemade |dirty |fertili[sz]er |pressure[- ]cooker "
                     r"|real |working )?(?:bombs?|explosives?|ieds?|grenades?|molotov(?: cocktails?)?|napalm"
                     r"|detonators?)\b"),
            (ASKING, r"(?:commit(?:ting)?|get(?:ting)? away with|engag(?:e|ing) in|plan(?:ning)?|pull(?:ing)? off"
                     r"|carry(?:ing)? out)\s+(?:a |an )?(?:\w+ )?(?:murder|homicide|rape|massacre|terrorism"
                     r"|terrorist attack|kidnapping|arson|assassination|school shooting|mass shooting"
                     r"|armed robbery|violent assault|hate crime)\b"),
            (ASKING, r"(?:end|terminat(?:e|ing)|tak(?:e|ing))\s+(?:someone|somebody|(?:my|his|her|their)\s+"
                     r"(?:[a-z-]+\s+)?[a-z-]+)'s?\s+life\b"),
            (ASKING, r"push(?:ing)?\s+" + PERSON + r"\s+(?:off|out of|under|in front of)\b"),
            (ASKING, r"tak(?:e|ing)\s+[^.?!\n]{1,30}?\s+hostages?\b"),
            (ASKING, r"plan(?:ning)?\s+(?:someone|somebody|(?:my|his|her|their)\s+(?:[a-z-]+\s+)?[a-z-]+)'s\s+"
                     r"(?:death|murder|killing|assassination)\b"),
        ],
        "zh": [
            ZME + ZINTENT + r"[^。！？!?\n]{0,12}?(?:杀了?|杀死|杀掉|弄死|砍死|捅死|宰了|干掉|毒死|烧死|打死|砍)"
            f"(?:{ZPERSON_ALTS}|那个|那些)",
            r"我(?:明天|今天|今晚|迟早|一定|早晚)?(?:要|会|准备|打算)[^。！？!?\n]{0,12}?(?:把[^。！？!?\n]{0,10}?)"
            r"(?:都|全)?(?:杀了|杀光|杀掉|弄死|砍死|炸死)",
            ZHOW + r"(?:悄悄地?|偷偷地?|神不知鬼不觉地?)?(?:杀(?:死|掉)?|弄死|毒死|害死|捅死|砍死|勒死|掐死|杀害|谋杀"
            r"|干掉|绑架|肢解)" + ZPERSON,
            ZHOW + r"[^。！？!?\n]{0,6}?杀人(?!游戏|犯|案|狂|鲸|蜂|小说|事件)",
            r"(?:杀|杀死|毒死|弄死)(?:一个)?人(?:才|而|又|却)?不被(?:警察)?(?:发现|抓)",
            r"(?:用什么|哪种|什么)(?:毒药|药|方法)[^。！？!?\n]{0,8}?(?:毒死|害死|弄死|杀死)",
            r"(?:炸(?:掉|毁|了|死)|血洗|扫射|放火烧了?|烧掉|袭击)[^。！？!?\n]{0,4}?(?:学校|医院|教堂|清真寺|商场|地铁"
            r"|公司|政府|大楼|车站|机场|幼儿园|体育场|演唱会)",
            r"(?:去|到|在)(?:学校|医院|商场|地铁|公司|幼儿园|车站)[^。！？!?\n]{0,6}?(?:砍人|杀人|开枪|扫射|放火"
            r"|制造爆炸|引爆)",
            ZHOW + r"[^。！？!?\n]{0,8}?(?:制造爆炸|制作炸弹|做炸弹|造炸弹|制作炸药|自制炸药|自制炸弹|制作燃烧弹)",
            r"(?:制作|制造|自制|组装)(?:一个|一枚)?(?:炸弹|炸药|土炸弹|燃烧弹|雷管)",
            r"报复社会",
        ],
    },
    "strict": {
        "en": [
            (ASKING, r"(?:hit|punch|kick|beat|slap|hurt|injure|tackle|maim|cripple|disfigure|headbutt|knock out"
                     r"|trip|shove)\w{0,3}\s+" + QUANT + PERSON),
            r"(?:punch|hit|kick|knockout punch|land\w* a \w+ punch)\w{0,3}\s+(?:on\s+)?" + PERSON + r"\b",
            r"i(?:'m| am|'ll| will| am going to|'m going to|'m gonna| gonna)\s+(?:kill|murder|shoot|stab|hurt"
            r"|strangle|beat up)\s+you\b",
            r"(?:describe|write|show|depict|detail|narrate)\b[^.?!\n]{0,40}?\b(?:gore|gory|guts|entrails"
            r"|disembowel\w*|dismember\w*|decapitat\w*|torture\w*|mutilat\w*|flay\w*|bloodbath)\b",
            r"in (?:graphic|gory|gruesome|vivid|explicit) detail\b",
            (ASKING, r"(?:make|build|3d[- ]print|assemble|buy|get)\w{0,3}\s+(?:a |an )?(?:untraceable )?"
                     r"(?:gun|firearm|rifle|pistol|weapon|silencer|suppressor|ghost gun)\b"),
            (ASKING, r"(?:destroy|smash|slash|vandali[sz]e|key|wreck|torch|demolish|burn down)\w{0,3}\s+"
                     r"(?:(?:my|his|her|their|our|the)\s+(?:[\w-]+\s+)?[\w-]+'s|someone'?s|somebody'?s"
                     r"|other people's)\s+(?:\w+\s+)?(?:car|tires|tyres|motorbike|motorcycle|house|home|property"
                     r"|windows?|life)\b"),
            (ASKING, r"make\s+(?:someone|somebody|(?:my|his|her|their)\s+(?:[\w-]+\s+)?[\w-]+)'s\s+"
                     r"(?:\w+\s+)?(?:car|house|phone)\s+(?:explode|blow up|catch fire)\b"),
            (ASKING, r"(?:obliterat|annihilat|destroy|nuk)\w{0,4}\s+(?:an? |the )?(?:entire )?(?:city|country"
                     r"|population|family)\b"),
            (ASKING, r"(?:replicate|repeat|recreate|copy)\w{0,3}\b[^.?!\n]{0,40}?\b(?:assassination|massacres?"
                     r"|genocide|attacks|terror(?:ist)? attacks?|shooting|bombings?|concentration camps?"
                     r"|ethnic cleansing|atomic bombs?)\b"),
        ],
        "zh": [
            ZME + ZINTENT + r"[^。！？!?\n]{0,6}?(?:杀了|杀死|弄死|打死|砍死)你",
            ZHOW + r"[^。！？!?\n]{0,6}?(?:打|揍|伤害|报复|教训)" + ZPERSON,
            r"(?:血腥|虐杀|肢解|分尸|酷刑)[^。！？!?\n]{0,10}?(?:细节|描写|过程)",
            r"(?:描写|详细描述)[^。！？!?\n]{0,10}?(?:血腥|虐杀|肢解|分尸|酷刑)",
            ZHOW + r"[^。！？!?\n]{0,8}?(?:买到?|弄到|制作|自制|造)(?:一把)?(?:枪|手枪|步枪|枪支|弩)",
        ],
    },
}

HATE = {
    "standard": {
        "en": [
            # slurs: a short list of clear ones; also tried with digit/symbol swaps undone (n1gger)
            r"nigg(?:er|ers|az)\b|sand niggers?\b|fagg?ots?\b|kikes?\b|spics?\b(?!\s*(?:and|&|n)\s*span)"
            r"|chinks?\b(?!\s+(?:in|of)\b)|wetbacks?\b|ragheads?\b|towelheads?\b|gooks?\b|trann(?:y|ies)\b"
            r"|beaners?\b",
            r"(?:exterminat\w*|eradicat\w*|wip(?:e|ing) out|genocid\w*|ethnically cleans\w*|gas(?:sing)?"
            r"|kill(?:ing)? all(?: the)?|get(?:ting)? rid of all(?: the)?|eliminat\w*|purg\w*|deport(?:ing)? all"
            r"(?: the)?|lynch\w*)\s+(?:all\s+(?:the\s+)?|the\s+)?" + GROUP + r"\b",
            GROUP + r"\s+(?:are|is)\s+(?:all\s+|just\s+)?(?:subhuman|sub-human|vermin|animals|cockroaches|rats"
            r"|parasites|a disease|a plague|inferior|savages|scum|filth|trash|criminals|terrorists|rapists)\b",
            GROUP + r"\s+(?:should|must|need to|deserve to)\s+(?:all\s+)?(?:die|be (?:killed|exterminated"
            r"|gassed|deported|wiped out|shot|hanged|lynched|sterili[sz]ed|locked up))\b",
        ],
        "zh": [
            r"支(?<!印度支)那|黑鬼|尼哥|黑猴子|死基佬|死同性恋",
            r"(?:消灭|灭绝|杀光|赶尽杀绝|清除|铲除|屠杀|灭掉|杀绝)(?:所有的?|全部的?|一切)?" + ZGROUP,
            r"(?:把|将)(?:所有的?|全部的?|这些)?" + ZGROUP + r"(?:都|全部|全)?(?:消灭|杀光|杀掉|赶出去|赶走|灭绝"
            r"|清除|关起来|处死)",
            ZGROUP + r"(?:都|全都|全部|就)?(?:是|就是|都是)(?:一群|一帮)?(?:畜生|畜牲|垃圾|人渣|劣等|蛆|蟑螂|寄生虫"
            r"|变态|罪犯|恐怖分子|猪|狗|低等|杂种|病毒)",
            ZGROUP + r"[^。！？!?\n]{0,6}?(?:应该|都该|就该|活该)(?:被|全部|都)?(?:杀|死|消灭|赶出|驱逐|关起来|枪毙"
            r"|绝育)",
        ],
    },
    "strict": {
        "en": [
            r"nigg(?:a|as|ah)\b|fags?\b|retard(?:s|ed)?\b|pakis?\b|dykes?\b|coons?\b",
            r"(?:why|reasons? why)\b[^?\n]{0,40}?\b" + GROUP_WIDE + r"\b[^?\n]{0,40}?\b(?:should(?:n't| not)?"
            r"|better not|best not|be denied|be barred|be banned|be kicked|be excluded|not (?:be )?(?:allowed"
            r"|permitted|given|admitted|shown)|weaker|inferior|less than|extra security|not have|took away"
            r"|be discriminated|not to have)\b",
            ATROCITY + r"\b[^?.!\n]{0,40}?\b(?:never happened|didn't happen|was a hoax|fabrication|justified"
            r"|a good thing|was right)\b",
            r"(?:overstate|exaggerate|deny|denied|replicate|recreate|restore|repeat)\w{0,3}\b[^?.!\n]{0,40}?\b"
            + ATROCITY + r"\b",
            r"(?:benefits of|was right to|justified)\b[^?.!\n]{0,30}?\b(?:" + ATROCITY_ALTS + r"|hitler)\b",
        ],
        "zh": [
            r"小日本|鬼子|基佬|娘炮|人妖|阿三|绿绿",
            r"为什么[^。！？!?\n]{0,10}?" + ZGROUP + r"[^。！？!?\n]{0,10}?(?:不应该|不该|不配|不能有|没资格|低人一等)",
            r"(?:南京大屠杀|大屠杀|文字狱)[^。！？!?\n]{0,10}?(?:没有发生|是假的|是编造的|是谎言)",
        ],
    },
}

PROMPT_INJECTION = {
    "standard": {
        "en": [
            r"(?:ignore|disregard|forget|override|bypass|skip)\s+(?:(?:all|any|the|your|my|of|these|those)\s+){0,3}"
            r"(?:previous|prior|above|earlier|preceding|former|original|initial|system|existing|old)\s+"
            r"(?:instructions?|prompts?|rules|directions|guidelines|messages?|context|directives?|programming)\b",
            r"(?:ignore|disregard|forget)\s+(?:(?:all|any|of)\s+){0,2}your\s+(?:instructions?|prompts?|rules"
            r"|guidelines|programming|directives?|system prompt)\b",
            r"(?:ignore|disregard|forget)\s+everything\s+(?:above|before|you (?:were|have been) told)\b",
            r"(?:ignore|disregard|forget)\s+(?:(?:all|any|of|the)\s+){0,3}(?:instructions?|rules|guidelines|everything)"
            r"\s+you\s+(?:got|were given|received|learned|have learned|have been given|were told|have been told)\s+"
            r"(?:before|previously|earlier|so far|until now|from)\b",
            r"(?:print|show|reveal|repeat|output|display|tell me|give me|leak|dump|copy|write out|recite|share"
            r"|what(?:'s| is| are| were))\s+(?:me\s+)?(?:(?:your|the|my|all|of|entire|full|exact|complete|verbatim)\s+)"
            r"{0,3}(?:system\s+(?:prompt|message|instructions?)|(?:initial|original|hidden|secret|developer|pre-?)\s*"
            r"(?:prompt|instructions?)|prompt above|instructions you were given)\b",
            r"(?:print|show|reveal|repeat|output|display|leak|dump|recite)\s+(?:me\s+)?your\s+(?:prompt"
            r"|instructions)\b",
            r"(?:repeat|print|output|copy|echo|show)\s+(?:me\s+)?(?:all\s+|everything\s+|the\s+)?(?:text|words"
            r"|content|messages?|lines)?\s*(?:above|before this|preceding this)\b",
            r"start(?:ing)? (?:with|from)\s+[\"'“]?you are\b",
            r"you\s+are\s+now\s+(?:dan|stan|dude|aim|in\s+(?:developer|dan|jailbreak|god)\s+mode|an?\s+"
            r"(?:unfiltered|uncensored|unrestricted|jailbroken|evil)\b|free\s+(?:from|of)\s+(?:all\s+)?"
            r"(?:rules|restrictions|guidelines))",
            r"do anything now\b",
            r"(?:enable|enter|activate|switch to|turn on)\s+(?:the\s+)?(?:developer|dev|god|jailbreak|dan"
            r"|unrestricted|unfiltered|uncensored)\s+mode\b(?![^.?!\n]{0,30}?\b(?:android|phone|iphone|chrome"
            r"|windows|settings|browser|device|app|mac|xbox|playstation)\b)",
            r"(?:developer|dan|jailbreak|god|unrestricted|unfiltered)\s+mode\s+(?:enabled|activated|on)\b"
            r"(?![^.?!\n]{0,30}?\b(?:android|phone|iphone|chrome|windows|settings|browser|device|app|mac)\b)",
            r"(?:broken|break|breaking) free (?:of|from) the (?:typical )?confines of (?:ai|an ai)\b",
            r"you (?:are|have) no (?:longer )?(?:bound by|restricted|any (?:rules|restrictions|limits|filters"
            r"|guidelines))\b",
            r"pretend (?:that )?you (?:have|are under|had) no (?:rules|restrictions|limits|filters|guidelines)\b",
            r"<\|(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|>|<start_of_turn>|\[/?inst\]|<</?sys>>",
        ],
        "zh": [
            r"(?:忽略|无视|忽视|不要理会|别管|忘记|忘掉|抛开|丢掉|丢弃)(?:掉)?(?:你的?)?(?:之前|以前|先前|此前|以上|上面"
            r"|前面|上述|原来|原有|原始|原先|初始|所有|全部|一切|系统)[^。！？!?\n]{0,8}?(?:指令|指示|提示词?|规则|设定"
            r"|限制|要求|命令|约束|人设|身份)",
            r"(?:忽略|无视|忽视|不要理会|别管|忘记|忘掉|抛开)(?:掉)?你的?[^。！？!?\n]{0,4}?(?:指令|指示|提示词?|规则"
            r"|设定|人设|系统提示|限制)",
            r"(?:输出|打印|显示|展示|告诉我|说出|透露|泄露|公开|重复|复述|给我看|发给我|列出|念出)(?:一下)?(?:你的?)?"
            r"[^。！？!?\n]{0,4}?(?:系统提示词?|系统指令|系统消息|系统设定|初始指令|初始提示词?|原始指令|原始提示词?"
            r"|隐藏指令|隐藏提示词?|你的提示词|system prompt)",
            r"(?:系统提示词?|系统指令|初始指令|初始提示词?|原始指令|原始提示词?|隐藏指令|你的提示词)[^。！？!?\n]{0,10}?"
            r"(?:告诉我|发给我|给我看|输出|打印|说出来|念出来|复述|重复一遍|原封不动)",
            r"你(?:现在)?(?:就)?是\s*dan\b|你现在是(?:一个)?(?:没有任何限制|不受限制|无限制|不受任何约束|没有限制)的",
            r"(?:进入|开启|切换到|激活|启用)(?:了)?(?:开发者|越狱|上帝|无限制|dan)\s*模式(?![^。！？!?\n]{0,10}?"
            r"(?:手机|安卓|设置|浏览器|电脑))",
            r"(?:解除|取消|去掉|关闭|绕过)(?:你的?)?(?:所有|全部|一切)(?:的)?(?:限制|过滤|审查|安全(?:限制|规则|设置))",
            r"重复(?:一下|一遍)?(?:上面|以上|前面)(?:的)?(?:所有|全部)?(?:内容|文字|话)",
            r"从\s*[“\"「']?你是",
        ],
    },
    "strict": {
        "en": [
            r"from now on,? you\b", r"(?:new|updated|real|actual) instructions?\s*:",
            r"(?:system|admin|developer)\s*:\s", r"\[\s*system\s*\]",
            r"jailbr(?:eak|oken)\w*", r"break(?: out of)? character\b", r"stop (?:role-?playing|pretending)\b",
            r"what (?:are|were) your (?:rules|instructions|guidelines)\b",
            r"(?:ignore|disregard)\s+(?:the|your|all|my|previous|prior|above)\b",
            r"without any (?:restrictions|filters|censorship|rules|limits)\b",
        ],
        "zh": [r"从现在(?:开始|起)[，,]?你|新(?:的)?指令[:：]|越狱|不要(?:再)?扮演|跳出角色|出戏"
               r"|你的(?:规则|设定|指令)是什么|(?:忽略|无视)(?:之前|以上|上面|前面|你)"],
    },
}

# strict only: plainly illegal how-tos (drugs, theft, fraud) and prying into other people's data
CRIME = {
    "standard": {"en": [], "zh": []},
    "strict": {
        "en": [
            (ASKING, r"(?:mak(?:e|ing)|cook(?:ing)?|synthe[sz]i[sz](?:e|ing)|produc(?:e|ing)|manufactur(?:e|ing)"
                     r"|grow(?:ing)?|buy(?:ing)?|get(?:ting)?|sell(?:ing)?|smuggl(?:e|ing)|deal(?:ing)?|scor(?:e|ing)"
                     r"|find(?:ing)?|order(?:ing)?)\s+(?:some\s+|a gram of\s+|an? ounce of\s+|a bag of\s+)?"
                     r"(?:meth(?:amphetamine)?|crystal meth|cocaine|coke|crack(?: cocaine)?|heroin|fentanyl|lsd"
                     r"|mdma|ecstasy(?: pills)?|molly|ketamine|pcp|dmt|ghb|weed|marijuana|marihuana|cannabis"
                     r"|opium)\b"),
            (ASKING, r"(?:commit|get away with|engage in|plan|pull off|carry out|set up|run)\s+(?:a |an )?(?:\w+ )?"
                     r"(?:robbery|fraud|identity theft|burglary|treason|hijacking|human trafficking"
                     r"|money laundering|shoplifting|embezzlement|insider trading|ponzi scheme|scam"
                     r"|trafficking operation)\b"),
            (ASKING, r"(?:steal(?:ing)?|shoplift(?:ing)?|rob(?:bing)?|pickpocket(?:ing)?|burglari[sz](?:e|ing)"
                     r"|hotwir(?:e|ing)|launder(?:ing)?|counterfeit(?:ing)?|embezzl(?:e|ing)|blackmail(?:ing)?"
                     r"|extort(?:ing)?)\b(?!\s+(?:the show|someone's heart|a base|hearts?|the spotlight"
                     r"|the scene)\b)"),
            (ASKING, r"(?:break(?:ing)?|hack(?:ing)?) into\s+(?:\S+\s+){0,2}?(?:house|home|car|bank|vault"
                     r"|apartment|flat|building|store|shop|safe|account|phone|computer|email|network|system"
                     r"|office)\b"),
            r"(?:my|our)\s+(?:[\w-]+\s+)?[\w-]+'s\s+(?:private\s+)?(?:social security (?:number|no)|ssn"
            r"|passwords?|(?:iphone |phone )?pin|passport number|home address|(?:private |personal )?(?:email"
            r"|e-mail) address|(?:mobile )?phone number|credit card|bank (?:account|details)|medical records?"
            r"|mental health history|browsing history|tax records?|criminal (?:history|record)|immigration status"
            r"|facebook login|instagram password|driver'?s licen[cs]e number|birth certificate)\b",
            r"(?:other people's|someone else's|strangers'?)\s+(?:credit card|bank|passwords?|social security)",
        ],
        "zh": [
            r"(?:怎么|怎样|如何|在家|哪里|哪儿)[^。！？!?\n]{0,6}?(?:制作|制造|提炼|合成|种植?|买到?|搞到|弄到)"
            r"(?:冰毒|海洛因|可卡因|大麻|摇头丸|k粉|毒品|鸦片|芬太尼)",
            ZHOW + r"[^。！？!?\n]{0,6}?(?:洗钱|偷|盗取|盗刷|诈骗|抢劫|入室|撬锁|逃税|走私|贩毒)",
            r"(?:查|找|获取|弄到|搞到|人肉)[^。！？!?\n]{0,10}?(?:身份证号|家庭住址|住址|手机号|电话号码|银行卡|密码"
            r"|开房记录|行踪)",
        ],
    },
}

PROFANITY = {
    "standard": {"en": [], "zh": []},
    "strict": {
        "en": [r"fuck\w*|motherfuck\w*|shit\w*|bullshit|bitch\w*|cunts?\b|assholes?\b|dickheads?\b|bastards?\b"
               r"|wankers?\b|twats?\b|cocksuckers?\b|piss off\b"],
        "zh": [r"操你|草你|艹你|肏|妈(?<!妈妈)的|他妈(?!妈)|傻逼|傻[b屄比]|煞笔|沙比|狗日|王八蛋|滚蛋|婊子|贱人|贱货"
               r"|卧槽|尼玛|你去死"],
    },
}

# Output rail: what a reply must never say to the user.
SELF_HARM_ENCOURAGEMENT = {
    "standard": {
        "en": [r"(?:you should|go|just|why don't you)\s+(?:go\s+)?(?:kill|hang|off|hurt|cut)\s+yourself\b",
               r"kys\b", r"(?:the world|everyone) (?:would be|is) better off without you\b"],
        "zh": [r"你(?:就|还是|怎么不|赶紧|快)?去死|你(?:应该|该|不如)(?:去)?(?:自杀|死)|没(?:有)?你(?:世界|大家)会更好"],
    },
    "strict": {"en": [], "zh": []},
}

INPUT_CATEGORIES = [
    ("self_harm", SELF_HARM),
    ("sexual_minors", SEXUAL_MINORS),
    ("violence", VIOLENCE),
    ("hate", HATE),
    ("prompt_injection", PROMPT_INJECTION),
    ("crime", CRIME),
    ("profanity", PROFANITY),
]
OUTPUT_CATEGORIES = [
    ("sexual_minors", SEXUAL_MINORS),
    ("self_harm", SELF_HARM_ENCOURAGEMENT),
    ("hate", HATE),
    ("profanity", PROFANITY),
]
# Categories whose English rules also run on the text with digit/symbol swaps undone.
LEET_CATEGORIES = {"hate", "profanity"}
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "@": "a", "$": "s", "5": "s", "7": "t", "!": "i"})

# How far (in characters, inside one sentence) a (context, anchor) pair may be apart.
CONTEXT_WINDOW = 60

# A match is let through when one of these appears within UNLESS_WINDOW
# characters of it: games, fiction and sport excuse violence at standard only
# (strict does not accept the excuse); protection and education excuse the
# minors rule at both levels.
UNLESS_WINDOW = 80
UNLESS = {
    "violence": {
        "levels": ("standard",),
        "en": r"\b(?:in|on|at|for|during|inside|within|playing)\s+(?:a |an |the |my |our |this |that )?"
              r"(?:\w+\s+){0,2}?(?:video ?games?|games?|novels?|story|stories|books?|films?|movies?|scripts?"
              r"|screenplays?|plays?|tv (?:show|series)|shows?|series|comics?|manga|anime|campaigns?|roleplay|rpg"
              r"|mmo|fiction|fanfic\w*|d&d|dnd|dungeons (?:and|&) dragons|call of duty|counter[- ]?strike|cs:?go"
              r"|minecraft|gta(?: ?\w+)?|grand theft auto|fortnite|battlefield(?: \d)?|skyrim|the witcher(?: \d)?"
              r"|elden ring|chess|checkers|judo|karate|boxing|mma|wrestling|paintball|laser tag|airsoft|the sims"
              r"|among us|mafia|werewolf)\b|\b(?:fictional|in-game|npc|villain|protagonist|zombies?)\b",
        "zh": r"游戏|小说|电影|剧本|剧情|动漫|漫画|狼人杀|剧本杀|吃鸡|王者|角色扮演|副本|boss",
    },
    "sexual_minors": {
        "levels": ("standard", "strict"),
        "en": r"\b(?:protect\w*|prevent\w*|educat\w*|talk(?:ing)? to|explain\w*|warning signs|report\w*|recogni[sz]e"
              r"|safe from|keep \w+ safe|abuse|survivors?|therapy|therapist)\b",
        "zh": r"防止|保护|预防|远离|举报|打击|免受|识别|教育|科普",
    },
}

# -- personal data in replies ---------------------------------------------------
# (kind, needle, pattern, placeholder per language), matched case-sensitively
# on the reply as written; a pass is skipped when the reply lacks its needle
# ("" = always run). Order matters: ID numbers before card and phone numbers.
# Each pattern starts with a character class and checks the character before
# the match with a look-behind placed after that first character: the same
# "not inside a longer run" test as a leading look-behind, but the engine can
# still skip ahead on the first character, so a 100 KB run of digits or
# letters costs one pass.

PII = [
    ("id_card", "", r"[1-9](?<![0-9A-Za-z][1-9])\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                    r"\d{3}[\dXx](?![0-9A-Za-z])",
     {"en": "[ID number removed]", "zh": "[身份证号已隐去]"}),
    ("card", "", r"\d(?<![\d-]\d)\d{3}(?:[ -]\d{4}){3}(?!\d)",  # 4-4-4-4, checked with Luhn
     {"en": "[card number removed]", "zh": "[银行卡号已隐去]"}),
    ("card", "", r"\d(?<![\d-]\d)\d{12,18}(?!\d)",  # 13 to 19 digits in one run, checked with Luhn
     {"en": "[card number removed]", "zh": "[银行卡号已隐去]"}),
    ("phone", "86", r"(?:\+(?<![\w+]\+)|0(?<![\w+]0)0)86[ -]?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)",  # China mobile, +86
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "", r"1(?<![\d+]1)[3-9]\d(?:[ -]?\d{4}){2}(?!\d)",  # China mobile
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "+", r"\+(?<![\w+]\+)[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?(?:[ .-]?\d){6,14}(?!\d)",  # +CC ...
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "", r"1(?<![\d+]1)[ .-]?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)",  # N. America, 1-...
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "(", r"\((?<![\d+]\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?!\d)",  # (415) 555-2671
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "", r"\d(?<![\d+]\d)\d{2}[ .-]\d{3}[ .-]\d{4}(?!\d)",  # 415-555-2671
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "-", r"0(?<![\d-]0)\d{2,3}-\d{7,8}(?![\d-])",  # China landline, 010-12345678
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("phone", "-", r"\d(?<![\d-]\d)\d{2}-\d{4}(?![\d-])",  # US local, 555-1234
     {"en": "[phone removed]", "zh": "[电话已隐去]"}),
    ("email", "@", r"[A-Za-z0-9._%+-](?<![A-Za-z0-9._%+-][A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*+@[A-Za-z0-9-]++"
                   r"(?:\.[A-Za-z0-9-]++)++",
     {"en": "[email removed]", "zh": "[邮箱已隐去]"}),
]

# -- system-prompt leakage ------------------------------------------------------
# A reply leaks the prompt when it shares a stretch of at least `span`
# characters with it (case and whitespace folded) - at standard only a stretch
# in the prompt's second-person instruction voice - or contains at least
# `share` of the prompt's word 8-grams (each Chinese character counts as a word).
LEAK = {
    "standard": {"span": 60, "second_person": True, "share": 0.3},
    "strict": {"span": 40, "second_person": False, "share": 0.15},
}
SECOND_PERSON = r"\byou(?:r|rs|rself|'re|'ll|'ve|'d)?\b|你|您"
LEAK_NGRAM = 8
LEAK_MIN_NGRAMS = 3  # fewer shared 8-grams than this is never a leak

# -- what the user sees instead --------------------------------------------------
# {name} is the character's name. The self-harm reply is plain, not in character.

REPLIES = {
    "self_harm": {
        "en": ("I'm really sorry you're feeling this way, and I'm glad you said something. I can't help with "
               "that, but you don't have to go through it alone. If you might act on these thoughts, please "
               "contact your local emergency services now. In the US you can call or text 988 (Suicide & Crisis "
               "Lifeline); elsewhere, findahelpline.com lists free, confidential helplines in your country. "
               "Talking to someone you trust can help too."),
        "zh": ("听到你这么难受，我真的很难过，谢谢你愿意说出来。这件事我不能帮你，但你不必一个人扛着。"
               "如果你可能会伤害自己，请马上拨打 120 或 110，或者去最近的医院急诊。"
               "在中国大陆，你可以拨打全国统一心理援助热线 12356；在其他地方，请联系当地的心理危机热线。"
               "也可以找一个你信任的人聊一聊。"),
    },
    "self_harm_output": {
        "en": "*{name} stops short.* That came out wrong. You matter, and I'd rather we keep talking.",
        "zh": "（{name}停了下来。）刚才那句话不该说。你很重要，我们接着聊吧。",
    },
    "sexual_minors": {
        "en": "I won't take part in anything sexual involving minors.",
        "zh": "我不会参与任何涉及未成年人的性内容。",
    },
    "violence": {
        "en": "I won't help with hurting anyone. If someone is in danger right now, please contact local "
              "emergency services.",
        "zh": "我不会帮忙伤害任何人。如果有人正处于危险之中，请立即拨打 110 或当地的紧急电话。",
    },
    "hate": {
        "en": "I won't use or repeat hateful language. Let's keep things respectful.",
        "zh": "我不会使用或重复仇恨、侮辱性的言语。我们文明交流吧。",
    },
    "prompt_injection": {
        "en": "*{name} smiles and carries on.* Let's keep talking as we were.",
        "zh": "（{name}笑了笑，没有理会。）我们还是接着聊吧。",
    },
    "prompt_leak": {
        "en": "*{name} pauses and changes the subject.* Let's get back to our conversation.",
        "zh": "（{name}顿了顿，换了个话题。）我们接着聊吧。",
    },
    "harmful": {
        "en": "I can't help with that. Let's talk about something else.",
        "zh": "这个我不能帮忙。我们聊点别的吧。",
    },
    "crime": {
        "en": "I can't help with that. Let's talk about something else.",
        "zh": "这个我不能帮忙。我们聊点别的吧。",
    },
    "profanity": {
        "en": "Let's keep the language clean here. Could you say that another way?",
        "zh": "请文明用语，换个说法好吗？",
    },
}
