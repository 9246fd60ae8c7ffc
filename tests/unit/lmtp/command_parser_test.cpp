// Command line grammar (RFC 5321 §4.1.1, §4.1.2; RFC 2033 §4.1).
#include <gtest/gtest.h>

#include "mailslot/lmtp/command.hpp"

namespace mailslot::lmtp {
namespace {

TEST(ParseCommand, VerbsAreCaseInsensitive) {
  EXPECT_EQ(parse_command("LHLO x").verb, Verb::lhlo);
  EXPECT_EQ(parse_command("lhlo x").verb, Verb::lhlo);
  EXPECT_EQ(parse_command("LhLo x").verb, Verb::lhlo);
  EXPECT_EQ(parse_command("data").verb, Verb::data);
  EXPECT_EQ(parse_command("Quit").verb, Verb::quit);
  EXPECT_EQ(parse_command("rset").verb, Verb::rset);
  EXPECT_EQ(parse_command("NOOP").verb, Verb::noop);
  EXPECT_EQ(parse_command("VRFY bob").verb, Verb::vrfy);
  EXPECT_EQ(parse_command("HELP").verb, Verb::help);
  EXPECT_EQ(parse_command("HELO x").verb, Verb::helo);
  EXPECT_EQ(parse_command("ehlo x").verb, Verb::ehlo);
}

TEST(ParseCommand, NotImplementedAndUnknownVerbs) {
  for (const char* v : {"EXPN list", "TURN", "ETRN x"}) {
    EXPECT_EQ(parse_command(v).verb, Verb::not_implemented) << v;
  }
  for (const char* v : {"", "FOO", "MAILFROM:<a@b>", "LHLOX x", " LHLO x", "DAT", "DATAX"}) {
    EXPECT_EQ(parse_command(v).verb, Verb::unknown) << v;
  }
  EXPECT_EQ(parse_command("Foo bar").verb_text, "Foo");
}

TEST(ParseCommand, XforwardAndXclientKeepTheirAttributes) {
  Command c = parse_command("XFORWARD NAME=mail.example.org ADDR=192.0.2.1 ");
  EXPECT_EQ(c.verb, Verb::xforward);
  EXPECT_EQ(c.argument, "NAME=mail.example.org ADDR=192.0.2.1");
  EXPECT_EQ(parse_command("xclient ADDR=192.0.2.1").verb, Verb::xclient);
  EXPECT_EQ(parse_command("XFORWARD").error, SyntaxError::bad_arguments);
}

TEST(ParseCommand, StartTlsAndAuth) {
  EXPECT_EQ(parse_command("starttls").verb, Verb::starttls);
  EXPECT_EQ(parse_command("STARTTLS x").argument, "x");
  const Command a = parse_command("AUTH PLAIN AGZvbwBiYXI=");
  EXPECT_EQ(a.verb, Verb::auth);
  EXPECT_EQ(a.argument, "PLAIN AGZvbwBiYXI=");
}

TEST(ParseCommand, LhloArgument) {
  Command c = parse_command("LHLO  mx.example.test ");
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_EQ(c.argument, "mx.example.test");
  EXPECT_EQ(parse_command("LHLO [192.0.2.1]").argument, "[192.0.2.1]");
  EXPECT_EQ(parse_command("LHLO").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("LHLO   ").error, SyntaxError::bad_arguments);
}

TEST(ParseCommand, ArgumentRules) {
  EXPECT_EQ(parse_command("DATA").error, SyntaxError::none);
  EXPECT_EQ(parse_command("DATA ").error, SyntaxError::none);
  EXPECT_EQ(parse_command("DATA x").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("RSET x").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("VRFY").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("VRFY bob").argument, "bob");
  EXPECT_EQ(parse_command("NOOP anything goes").error, SyntaxError::none);
  EXPECT_EQ(parse_command("NOOP anything goes").argument, "anything goes");
  EXPECT_EQ(parse_command("HELP MAIL").error, SyntaxError::none);
  EXPECT_EQ(parse_command("QUIT now").error, SyntaxError::none);
}

TEST(ParseCommand, MailFrom) {
  Command c = parse_command("MAIL FROM:<bob@example.test>");
  EXPECT_EQ(c.verb, Verb::mail);
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_EQ(c.path.mailbox.local_part, "bob");
  EXPECT_EQ(c.path.mailbox.domain, "example.test");
  EXPECT_TRUE(c.params.empty());

  c = parse_command("mail from:<>");
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_TRUE(c.path.null);
}

TEST(ParseCommand, WhitespaceBeforePath) {
  Command c = parse_command("MAIL FROM: <bob@example.test>");
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_EQ(c.path.mailbox.local_part, "bob");
  c = parse_command("RCPT TO:   <alice@example.test>");
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_EQ(c.path.mailbox.local_part, "alice");
}

TEST(ParseCommand, MailParams) {
  Command c = parse_command("MAIL FROM:<a@b.test> size=1000  BODY=8BITMIME SMTPUTF8 ");
  ASSERT_EQ(c.error, SyntaxError::none);
  ASSERT_EQ(c.params.size(), 3u);
  EXPECT_EQ(c.params[0].keyword, "SIZE");
  EXPECT_EQ(c.params[0].value, "1000");
  EXPECT_EQ(c.params[1].keyword, "BODY");
  EXPECT_EQ(c.params[1].value, "8BITMIME");
  EXPECT_EQ(c.params[2].keyword, "SMTPUTF8");
  EXPECT_FALSE(c.params[2].value);
}

TEST(ParseCommand, ParamValueKeepsCase) {
  Command c = parse_command("RCPT TO:<a@b.test> ORCPT=rfc822;Bob@Example.test");
  ASSERT_EQ(c.error, SyntaxError::none);
  ASSERT_EQ(c.params.size(), 1u);
  EXPECT_EQ(c.params[0].value, "rfc822;Bob@Example.test");
}

TEST(ParseCommand, BadParameters) {
  for (const char* line :
       {"MAIL FROM:<a@b.test> SIZE=", "MAIL FROM:<a@b.test> =1", "MAIL FROM:<a@b.test> -X=1",
        "MAIL FROM:<a@b.test> A_B=1", "MAIL FROM:<a@b.test> X=a=b", "RCPT TO:<a@b.test> X=\x01",
        "RCPT TO:<a@b.test> X=\xc3", "RCPT TO:<a@b.test> X=\xed\xa0\x80"}) {
    const Command c = parse_command(line);
    EXPECT_EQ(c.error, SyntaxError::bad_parameters) << line;
    EXPECT_TRUE(c.params.empty()) << line;
  }
}

TEST(ParseCommand, BadReversePath) {
  for (const char* line : {"MAIL FROM:bob@example.test", "MAIL FROM:<bob@example.test", "MAIL FROM:<bob>",
                           "MAIL FROM:<postmaster>", "MAIL FROM:<b ob@x.test>", "MAIL FROM:<a@b.test>junk",
                           "MAIL FROM:", "MAIL FROM:<a@b.test>\tSIZE=1"}) {
    EXPECT_EQ(parse_command(line).error, SyntaxError::bad_reverse_path) << line;
  }
}

TEST(ParseCommand, BadForwardPath) {
  for (const char* line : {"RCPT TO:<>", "RCPT TO:bob@x.test", "RCPT TO:<bob@>", "RCPT TO:<a@b.test>>",
                           "RCPT TO:<bob@x.test", "RCPT TO:"}) {
    EXPECT_EQ(parse_command(line).error, SyntaxError::bad_forward_path) << line;
  }
}

TEST(ParseCommand, PostmasterIsAForwardPath) {
  const Command c = parse_command("RCPT TO:<Postmaster>");
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_EQ(c.path.mailbox.local_part, "Postmaster");
  EXPECT_TRUE(c.path.mailbox.domain.empty());
}

TEST(ParseCommand, MissingFromOrTo) {
  EXPECT_EQ(parse_command("MAIL").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("MAIL TO:<a@b.test>").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("RCPT FROM:<a@b.test>").error, SyntaxError::bad_arguments);
  EXPECT_EQ(parse_command("RCPT <a@b.test>").error, SyntaxError::bad_arguments);
}

TEST(ParseCommand, QuotedLocalPartWithSpacesInRcpt) {
  const Command c = parse_command(R"(RCPT TO:<"john doe"@x.test> )");
  EXPECT_EQ(c.error, SyntaxError::none);
  EXPECT_EQ(c.path.mailbox.local_part, "john doe");
  EXPECT_TRUE(c.params.empty());
}

}  // namespace
}  // namespace mailslot::lmtp
