// sdf_check: load SDF worlds and robot descriptions with libsdformat, the parser Gazebo uses,
// and report what it finds.
//
//   sdf_check FILE...      each FILE as `gz sim FILE` loads a world (sdf::Root::Load)
//   sdf_check - < URDF     standard input as gz-sim's create service loads a spawned model's
//                          text, e.g. ros_gz_sim create's robot_description (sdf::Root::LoadSdfString;
//                          a URDF is converted to SDF first)
//
// Every sdf::Error goes to stderr as `LABEL: error: [code N] MESSAGE (FILE:LINE, XMLPATH)`.
// A summary of what loaded goes to stdout, one item per line, for tests to check that nothing
// was lost on the way (e.g. in the URDF to SDF conversion):
//   LABEL: world NAME models=N
//   LABEL: model NAME links=N joints=N
//   LABEL:   joint NAME TYPE
//   LABEL:   sensor NAME TYPE link=LINK
//   LABEL:   plugin NAME filename=FILE [joint_name=JOINT]
// (indented lines belong to the world or model line above them).
// Exit status: 0 when every input loaded without an error, 1 when any had one, 2 on bad usage.
// Compiled at test time by test_gazebo_sdf_parser.py (never committed as a binary).
#include <sdf/sdf.hh>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string joint_type(sdf::JointType type) {
  switch (type) {
    case sdf::JointType::BALL: return "ball";
    case sdf::JointType::CONTINUOUS: return "continuous";
    case sdf::JointType::FIXED: return "fixed";
    case sdf::JointType::GEARBOX: return "gearbox";
    case sdf::JointType::PRISMATIC: return "prismatic";
    case sdf::JointType::REVOLUTE: return "revolute";
    case sdf::JointType::REVOLUTE2: return "revolute2";
    case sdf::JointType::SCREW: return "screw";
    case sdf::JointType::UNIVERSAL: return "universal";
    default: return "invalid";
  }
}

void print_plugins(const std::string &label, sdf::ElementPtr parent) {
  if (!parent || !parent->HasElement("plugin")) {
    return;
  }
  for (auto p = parent->GetElement("plugin"); p; p = p->GetNextElement("plugin")) {
    std::cout << label << ":   plugin " << p->Get<std::string>("name")
              << " filename=" << p->Get<std::string>("filename");
    // a plugin's own elements are kept as written; joint_name says which joint a controller drives
    for (auto c = p->GetFirstElement(); c; c = c->GetNextElement()) {
      if (c->GetName() == "joint_name") {
        std::cout << " joint_name=" << c->GetValue()->GetAsString();
      }
    }
    std::cout << "\n";
  }
}

void print_model(const std::string &label, const sdf::Model &model) {
  std::cout << label << ": model " << model.Name() << " links=" << model.LinkCount()
            << " joints=" << model.JointCount() << "\n";
  for (uint64_t j = 0; j < model.JointCount(); ++j) {
    const sdf::Joint *joint = model.JointByIndex(j);
    std::cout << label << ":   joint " << joint->Name() << " " << joint_type(joint->Type()) << "\n";
  }
  for (uint64_t l = 0; l < model.LinkCount(); ++l) {
    const sdf::Link *link = model.LinkByIndex(l);
    for (uint64_t s = 0; s < link->SensorCount(); ++s) {
      const sdf::Sensor *sensor = link->SensorByIndex(s);
      std::cout << label << ":   sensor " << sensor->Name() << " " << sensor->TypeStr()
                << " link=" << link->Name() << "\n";
    }
  }
  print_plugins(label, model.Element());
}

void print_summary(const std::string &label, const sdf::Root &root) {
  for (uint64_t w = 0; w < root.WorldCount(); ++w) {
    const sdf::World *world = root.WorldByIndex(w);
    std::cout << label << ": world " << world->Name() << " models=" << world->ModelCount() << "\n";
    print_plugins(label, world->Element());
  }
  if (root.Model()) {
    print_model(label, *root.Model());
  }
}

// Some messages quote the whole input (e.g. "Unable to read SDF string: <the URDF>"): keep their
// first line, at most 240 characters.
std::string shortened(const std::string &message) {
  const size_t keep = std::min<size_t>(240, message.find('\n'));
  if (keep >= message.size()) {
    return message;
  }
  return message.substr(0, keep) + " ... (" + std::to_string(message.size() - keep) + " more characters)";
}

// The parser's console lines whose label is `level` ("Error", "Warning"), without colour codes
// and label, e.g. "[Converter.cc:156] Unable to convert from SDF version 1.11 to 1.9".
std::vector<std::string> console_lines(const std::string &text, const std::string &level) {
  static const char *const kLevels[] = {"Error", "Warning", "Msg", "Dbg"};   // sdferr, sdfwarn, ...
  std::vector<std::string> found;
  bool continued = false;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string plain;
    for (size_t i = 0; i < line.size(); ++i) {   // drop ANSI colour sequences (ESC [ ... m)
      if (line[i] == '\033') {
        i = line.find('m', i);
        if (i == std::string::npos) break;
      } else {
        plain += line[i];
      }
    }
    const bool labelled = std::any_of(std::begin(kLevels), std::end(kLevels), [&plain](const char *lvl) {
      return plain.rfind(std::string(lvl) + " [", 0) == 0;
    });
    if (plain.rfind(level + " [", 0) == 0) {
      found.push_back(plain.substr(level.size() + 1));
      continued = true;
    } else if (labelled) {
      continued = false;                         // another level's message
    } else if (continued && !plain.empty()) {
      found.back() += " " + plain;               // a message continued on the next line
    }
  }
  return found;
}

// Loads one input; returns the number of errors it had.
size_t check(const std::string &input) {
  sdf::Root root;
  sdf::Errors errors;
  const std::string label = input == "-" ? "<stdin>" : input;
  if (input != "-" && !std::ifstream(input).good()) {
    std::cerr << label << ": error: cannot read the file\n";
    return 1;
  }
  // The parser prints some errors on its console without returning them (libsdformat 12, e.g.
  // "Unable to convert from SDF version 1.11 to 1.9"): collect the console too.
  std::ostringstream console;
  sdf::Console::Instance()->GetMsgStream().SetStream(&console);
  if (input == "-") {
    const std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    errors = root.LoadSdfString(text);
  } else {
    errors = root.Load(input);
  }
  sdf::Console::Instance()->GetMsgStream().SetStream(&std::cerr);
  const std::vector<std::string> console_errors = console_lines(console.str(), "Error");
  for (const std::string &line : console_lines(console.str(), "Warning")) {
    std::cerr << label << ": warning: " << line << "\n";
  }
  if (errors.empty() && root.WorldCount() == 0 && !root.Model() && !root.Light() && !root.Actor()) {
    errors.emplace_back(sdf::ErrorCode::ELEMENT_MISSING, "no world, model, light or actor in the input");
  }
  for (const sdf::Error &e : errors) {
    std::cerr << label << ": error: [code " << static_cast<int>(e.Code()) << "] " << shortened(e.Message());
    if (e.FilePath() || e.XmlPath()) {
      std::cerr << " (" << e.FilePath().value_or("") << (e.LineNumber() ? ":" + std::to_string(*e.LineNumber()) : "")
                << (e.XmlPath() ? ", " + *e.XmlPath() : "") << ")";
    }
    std::cerr << "\n";
  }
  for (const std::string &line : console_errors) {
    std::cerr << label << ": error: (parser console) " << shortened(line) << "\n";
  }
  print_summary(label, root);
  return errors.size() + console_errors.size();
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " FILE... (- reads one model or URDF from standard input)\n";
    return 2;
  }
  std::cout << "libsdformat " << SDF_VERSION_FULL << "\n";
  size_t failed = 0;
  for (int i = 1; i < argc; ++i) {
    failed += check(argv[i]) > 0 ? 1 : 0;
  }
  if (failed) {
    std::cerr << failed << " of " << argc - 1 << " inputs had errors\n";
  }
  return failed ? 1 : 0;
}
