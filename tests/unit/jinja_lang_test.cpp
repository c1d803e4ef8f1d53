// The Jinja language as chat templates use it. Expected strings are what
// Python's Jinja2 (as transformers configures it) prints for the same input.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "jinja_test_util.h"

namespace lineage::chat::test {
namespace {

TEST(JinjaWhitespace, TrimAndLstripBlocks) {
  EXPECT_EQ(render("{% if true %}\n  yes\n  {% endif %}\nafter\n"), "  yes\nafter");
  EXPECT_EQ(render("a\n    {# note #}\nb"), "a\nb");
  EXPECT_EQ(render("{{ 'x' }}\ny"), "x\ny");  // no trimming after expressions
  EXPECT_EQ(render("x  {% if true %}y{% endif %}"), "x  y");  // not at a line start
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(render("a {{- ' x ' -}} b"), "a x b");
  EXPECT_EQ(render("a\n  {#- c -#}\n  b"), "ab");
  EXPECT_EQ(render("{% for i in [1, 2] %}\n    {{ i }}\n{% endfor %}\n"), "    1\n    2\n");
  EXPECT_EQ(render("keep\n\n"), "keep\n");  // only one trailing newline goes
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
}

TEST(JinjaExpr, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 10 }}"), "7 9 1024");
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }}"), "3 -4 -2 2");
  EXPECT_EQ(render("{{ 7 / 2 }} {{ 4 / 2 }} {{ 1.0 }} {{ 0.1 + 0.2 }}"), "3.5 2.0 1.0 0.30000000000000004");
  EXPECT_EQ(render("{{ 1e20 }} {{ 1e-5 }} {{ 123456789.0 * 10 }} {{ 1.5e16 }} {{ 0.0001 }}"),
            "1e+20 1e-05 1234567890.0 1.5e+16 0.0001");
  EXPECT_EQ(render("{{ -3 | abs }} {{ 1 + true }} {{ 'ab' * 3 }} {{ [0] * 2 }}"), "3 2 ababab [0, 0]");
}

TEST(JinjaExpr, PrintsLikePython) {
  EXPECT_EQ(render("{{ none }}|{{ true }}|{{ false }}|{{ undefined_name }}|"), "None|True|False||");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 2.5] }}"), "[1, 'a', None, True, 2.5]");
  EXPECT_EQ(render("{{ {'a': 1, 'b': [2]} }} {{ (1,) }} {{ (1, 'x') }}"), "{'a': 1, 'b': [2]} (1,) (1, 'x')");
  EXPECT_EQ(render("{{ [\"it's\", 'say \"hi\"', 'a\\nb'] }}"), "[\"it's\", 'say \"hi\"', 'a\\nb']");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ x }}"), "a1None");
  EXPECT_EQ(render("{{ 'a\\tb\\u00e9\\x41' \"c\" }}"), "a\tb\xc3\xa9" "Ac");
}

TEST(JinjaExpr, LogicAndComparisons) {
  EXPECT_EQ(render("{{ 0 or 'x' }}|{{ '' and 'x' }}|{{ [] or {} }}|{{ not [] }}"), "x||{}|True");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}"),
            "True True True True");
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }}"),
            "True True True True");
  EXPECT_EQ(render("{{ 'a' < 'b' }} {{ 2 >= 3 }} {{ 1 != 2 }} {{ x == y }}"), "True False True True");
  EXPECT_EQ(render("{{ 'a' if false else 'b' }}|{{ 'a' if false }}|{{ 'y' if 1 else 'n' }}"), "b||y");
  EXPECT_EQ(render("{{ not x is defined }} {{ x is not defined and 1 }}"), "True 1");
}

TEST(JinjaExpr, SubscriptsAndSlices) {
  const char* ctx = R"({"m": [{"role": "user", "content": "hi"}], "s": "h\u00e9llo"})";
  EXPECT_EQ(render("{{ m[0]['content'] }} {{ m[0].role }} {{ m[-1].content }} {{ m.0.role }}", ctx),
            "hi user hi user");
  EXPECT_EQ(render("{{ s[1] }} {{ s[::-1] }} {{ s[1:3] }} {{ s[-2:] }} {{ s[9:] }}|", ctx),
            "\xc3\xa9 oll\xc3\xa9h \xc3\xa9l lo |");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5][::2] }} {{ [1, 2, 3][1:] }} {{ [1, 2, 3][:-1] }} {{ [1, 2, 3][::-1] }}"),
            "[1, 3, 5] [2, 3] [1, 2] [3, 2, 1]");
  EXPECT_EQ(render("{{ {'a': {'b': 1}}['a']['b'] }}|{{ m[5] }}|{{ m[0].missing }}|{{ none.x }}|", ctx), "1||||");
}

TEST(JinjaTests, BuiltinTests) {
  EXPECT_EQ(render("{{ 3 is odd }} {{ 4 is even }} {{ 10 is divisibleby(5) }} {{ 10 is divisibleby 3 }}"),
            "True True True False");
  EXPECT_EQ(render("{{ 'x' is string }} {{ {} is mapping }} {{ [] is mapping }} {{ 'x' is iterable }} "
                   "{{ 1 is iterable }} {{ [] is sequence }}"),
            "True True False True False True");
  EXPECT_EQ(render("{{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ 1.0 is integer }} {{ true is boolean }}"),
            "True True True False True");
  EXPECT_EQ(render("{{ none is none }} {{ 0 is none }} {{ true is true }} {{ 1 is true }} {{ false is false }}"),
            "True False True False True");
  EXPECT_EQ(render("{{ x is defined }} {{ x is undefined }} {{ 'a' is equalto 'a' }} {{ 'abc' is lower }} "
                   "{{ 'ABC' is upper }} {{ 2 is in [1, 2] }}"),
            "False True True True True True");
}

TEST(JinjaMethods, Strings) {
  EXPECT_EQ(render("{{ '  a b \\n'.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|"
                   "{{ ' x '.rstrip() }}|"),
            "a b|a|x\n| x|");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} "
                   "{{ 'a b c'.rsplit(' ', 1) }}"),
            "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a b', 'c']");
  EXPECT_EQ(render("{{ 'hello'.startswith(('x', 'he')) }} {{ 'hello'.endswith('lo') }} {{ 'a'.startswith('ab') }}"),
            "True True False");
  EXPECT_EQ(render("{{ 'Hi There'.upper() }} {{ 'Hi There'.lower() }} {{ \"they're bill's\".title() }} "
                   "{{ 'hELLO wORLD'.capitalize() }}"),
            "HI THERE hi there They'Re Bill'S Hello world");
  EXPECT_EQ(render("{{ 'aaa'.replace('a', 'b', 2) }} {{ 'h\xc3\xa9llo'.find('l') }} {{ 'abc'.find('z') }} "
                   "{{ 'banana'.count('an') }}"),
            "bba 2 -1 2");
  EXPECT_EQ(render("{{ 'a\\nb\\r\\nc\\n'.splitlines() }} {{ '{} and {name}'.format(1, name='x') }} "
                   "{{ '-'.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ '1a'.isdigit() }}"),
            "['a', 'b', 'c'] 1 and x a-b True False");
  EXPECT_EQ(render("{{ '<think>r</think>\\n\\nans'.split('</think>')[-1].lstrip('\\n') }}"), "ans");
  EXPECT_EQ(render("{{ '%s has %d items' % ('cart', 3) }} {{ '%.2f' % 3.14159 }}"), "cart has 3 items 3.14");
}

TEST(JinjaMethods, Dicts) {
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "b=1;a=2;");
  EXPECT_EQ(render("{{ {'a': 1}.get('b', 'd') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('a') }}"), "d None 1");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}.keys() | list }} {{ {'b': 1, 'a': 2}.values() | list }}"), "['b', 'a'] [1, 2]");
  EXPECT_EQ(render("{% for k in {'z': 0, 'y': 1} %}{{ k }}{% endfor %}"), "zy");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }} {{ dict([['k', 2]]) }}"), "{'a': 1, 'b': 'x'} {'k': 2}");
}

TEST(JinjaFilters, Text) {
  EXPECT_EQ(render("{{ ' x \\n'|trim }}|{{ 'xxyxx'|trim('x') }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|"
                   "{{ \"hello wORLD they're\"|title }}|{{ 'hELLO'|capitalize }}"),
            "x|y|AB|ab|Hello World They're|Hello");
  EXPECT_EQ(render("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\n\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(first=true, blank=true) }}"),
            "a\n  b\n\n  c|  a\n\n  b|    a\n    \n    b");
  EXPECT_EQ(render("{{ '<a href=\"x\">&\\''|e }} {{ 'x'|safe }} {{ 'aXbX'|replace('X', '-') }} {{ 'abc'|reverse }}"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39; x a-b- cba");
  EXPECT_EQ(render("{{ 1|string ~ 2 }} {{ '42'|int + 1 }} {{ ' 7 '|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.9|int }} "
                   "{{ '1.5'|float }} {{ 2|float }}"),
            "12 43 7 0 5 3 1.5 2.0");
  EXPECT_EQ(render("{{ 'h\xc3\xa9llo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ x|length }}"), "5 2 1 0");
  EXPECT_EQ(render("{{ '%s-%s'|format('a', 1) }} {{ 'a b  c'|wordcount }}"), "a-1 3");
}

TEST(JinjaFilters, Lists) {
  const char* ctx = R"({"msgs": [{"role": "user", "c": "a"}, {"role": "bot", "c": "b"}, {"role": "user", "c": "c"}]})";
  EXPECT_EQ(render("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='c')|join(',') }}", ctx), "a,c");
  EXPECT_EQ(render("{{ msgs|rejectattr('role', 'equalto', 'user')|map(attribute='c')|list }}", ctx), "['b']");
  EXPECT_EQ(render("{{ msgs|selectattr('missing')|list }} {{ msgs|map(attribute='x', default='-')|join }}", ctx),
            "[] ---");
  EXPECT_EQ(render("{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} "
                   "{{ [0, 1, '', 'a']|select|list }} {{ [3, 1, 2]|select('gt', 1)|list }}"),
            "[1, 3] [2, 4] [1, 'a'] [3, 2]");
  EXPECT_EQ(render("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} "
                   "{{ msgs|sort(attribute='c', reverse=true)|map(attribute='c')|join }}", ctx),
            "[1, 2, 3] ['A', 'b', 'c'] [3, 2, 1] cba");
  EXPECT_EQ(render("{{ [1, 2]|first }} {{ [1, 2]|last }} {{ ['a', 'b']|join(', ') }} {{ [1, 2]|join }} "
                   "{{ msgs|join(',', attribute='role') }}", ctx),
            "1 2 a, b 12 user,bot,user");
  EXPECT_EQ(render("{{ [1, 2, 2, 1]|unique|list }} {{ ['a', 'A']|unique|list }} {{ [1, 2, 3]|sum }} "
                   "{{ msgs|map(attribute='c')|list|length }} {{ [3, 7, 5]|max }} {{ [3, 7, 5]|min }}", ctx),
            "[1, 2] ['a'] 6 3 7 3");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ 'ab'|list }} {{ [1, 2]|map('string')|join('-') }}"),
            "[[1, 2], [3, 4], [5]] ['a', 'b'] 1-2");
  EXPECT_EQ(render("{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'a': 2}|items|list }}"),
            "[('A', 2), ('b', 1), ('c', 0)] [('b', 1), ('a', 2)]");
  EXPECT_EQ(render("{{ 2.567|round(2) }} {{ 3|round }} {{ 2.5|round }} {{ 2.1|round(method='ceil') }}"),
            "2.57 3 2.0 3.0");  // Python's round: halves to even, ints stay ints
}

TEST(JinjaFilters, DefaultAndUndefined) {
  EXPECT_EQ(render("{{ x|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d', true) }}|"
                   "{{ none|d('n', boolean=true) }}|{{ 0|d(5) }}|{{ x|d }}|"),
            "d||d|n|0||");
  EXPECT_EQ(render("{% for i in x %}never{% endfor %}{{ x|list }} {{ x|join }}|{{ x|items|list }}"), "[] |[]");
}

TEST(JinjaFilters, ToJson) {
  EXPECT_EQ(render("{{ [1, [2], 'x']|tojson }}"), "[1, [2], \"x\"]");
  EXPECT_EQ(render("{{ {'b': '\xc3\xa9\"\\n\\\\', 'a': none, 'c': 1.0, 'd': true, 'e': 2}|tojson }}"),
            "{\"b\": \"\xc3\xa9\\\"\\n\\\\\", \"a\": null, \"c\": 1.0, \"d\": true, \"e\": 2}");
  EXPECT_EQ(render("{{ {'a': [1, {}], 'b': [], 'c': {'d': 'x'}}|tojson(indent=2) }}"),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": [],\n  \"c\": {\n    \"d\": \"x\"\n  }\n}");
  EXPECT_EQ(render("{{ '\xc3\xa9\xf0\x9f\x98\x80'|tojson(ensure_ascii=true) }} {{ '\\x01\\t'|tojson }}"),
            "\"\\u00e9\\ud83d\\ude00\" \"\\u0001\\t\"");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ {'a': [1, 2]}|tojson(separators=(',', ':')) }}"),
            "{\"a\": 2, \"b\": 1} {\"a\":[1,2]}");
  // Key order comes from the context, not sorted.
  EXPECT_EQ(render("{{ t|tojson }}", R"({"t": {"z": 1, "a": {"y": 2, "b": 3}}})"), "{\"z\": 1, \"a\": {\"y\": 2, \"b\": 3}}");
}

TEST(JinjaStatements, ForLoops) {
  EXPECT_EQ(render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}"),
            "10TrueFalse332|21FalseFalse321|32FalseTrue310|");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}"), "-2;1-3;2-;");
  EXPECT_EQ(render("{% for x in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in range(6) if x is even %}{{ x }}{{ ',' if not loop.last }}{% endfor %}"), "0,2,4");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}"
                   "{% endif %}{{ x }}{% endfor %}"),
            "0134");
  EXPECT_EQ(render("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for c in 'h\xc3\xa9' %}[{{ c }}]{% endfor %}"),
            "37[h][\xc3\xa9]");
  EXPECT_EQ(render("{% for i in range(2) %}{% for j in range(2) %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}{% endfor %}"),
            "001 012 101 112 ");
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }}"), "[0, 1, 2] [1, 3, 5] [3, 2, 1]");
}

TEST(JinjaStatements, SetScopesAndNamespaces) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(2) %}{% set x = 5 %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"), "2");
  EXPECT_EQ(render("{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
                   "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
            "6 0123");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set s %}hi {{ 1 }}{% endset %}{{ s|upper }}"), "HI 1");
  EXPECT_EQ(render("{% set messages = messages[1:] %}{{ messages|length }}", R"({"messages": [1, 2, 3]})"), "2");
}

TEST(JinjaStatements, IfMacrosCallsFilters) {
  EXPECT_EQ(render("{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}"),
            "one two many ");
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}"),
            "Hi A! Hi B? Hi C!");
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call wrap('b') %}in{% endcall %}"),
            "<b>in</b>");
  EXPECT_EQ(render("{% macro kw(a) %}{{ a }}{{ kwargs }}{{ varargs }}{% endmacro %}{{ kw(1, 2, x=3) }}"),
            "1{'x': 3}(2,)");
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
  EXPECT_EQ(render("{% generation %}gen{% endgeneration %}"), "gen");
}

TEST(JinjaTemplate, ConcurrentRendersAgree) {
  Template t = Template::parse("{% for m in messages %}{{ m.role }}: {{ m.content|trim }}\n{% endfor %}");
  nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(
      R"({"messages": [{"role": "user", "content": " a "}, {"role": "assistant", "content": "b"}]})");
  std::string want = "user: a\nassistant: b\n";
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (t.render(ctx) != want) ++bad;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace lineage::chat::test
